# GitHub Actions helpers.
package rampart.lib.actions

events := {e | some e, _ in input.on}

# untrusted_trigger: the workflow runs with the base repository's secrets and a write token on
# events that people outside the repository can cause.
untrusted_trigger if "pull_request_target" in events

untrusted_trigger if "workflow_run" in events

# public_events can be triggered by anyone who can open a pull request, issue or comment.
public_events := {
	"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment",
	"issue_comment", "issues", "discussion", "discussion_comment", "fork", "watch",
}

# action_owner of "owner/repo/path@ref" is "owner".
action_owner(uses) := lower(split(uses, "/")[0])

action_ref(uses) := split(uses, "@")[1]

local_or_docker(uses) if startswith(uses, "./")

local_or_docker(uses) if startswith(uses, "docker://")

first_party(uses) if action_owner(uses) in {"actions", "github"}

third_party(uses) if {
	not local_or_docker(uses)
	not first_party(uses)
}

pinned(uses) if regex.match(`^[0-9a-f]{40}$`, action_ref(uses))

# uses lists every action and reusable workflow referenced, as {"uses", "line", "resource"}.
uses contains {"uses": s.uses, "line": s.uses_line, "resource": sprintf("jobs.%s.steps[%d]", [j.id, s.index])} if {
	some j in input.jobs
	some s in j.steps
	s.uses
}

uses contains {"uses": j.uses, "line": j.uses_line, "resource": sprintf("jobs.%s", [j.id])} if {
	some j in input.jobs
	is_string(j.uses)
}
