package rampart.iac.actions.prt_checkout_head

import data.rampart.lib.actions as gha

__rego_metadata__ := {
	"id": "RIAC-GHA-001",
	"title": "pull_request_target checks out the pull request's code",
	"severity": "critical",
	"description": "pull_request_target runs with the base repository's secrets and a write token. Checking out the pull request's head and building or running it executes an outsider's code with those privileges (a \"pwn request\").",
	"fix": "Use the pull_request event for building untrusted code; if pull_request_target is needed, do not check out or run the head, or split the work with workflow_run and treat artifacts as untrusted.",
}

head_ref(ref) if regex.match(`github\.event\.pull_request\.head\.(sha|ref)|github\.head_ref|refs/pull/.*/(head|merge)|github\.event\.number|github\.event\.pull_request\.number`, ref)

deny contains {"msg": msg, "line": object.get(s.with_lines, "ref", s.line), "resource": sprintf("jobs.%s.steps[%d]", [j.id, s.index])} if {
	"pull_request_target" in gha.events
	some j in input.jobs
	some s in j.steps
	startswith(lower(s.uses), "actions/checkout@")
	head_ref(sprintf("%v", [s.with.ref]))
	msg := sprintf("job %s checks out the pull request head (%v) in a pull_request_target workflow", [j.id, s.with.ref])
}

deny contains {"msg": msg, "line": s.run_line, "resource": sprintf("jobs.%s.steps[%d]", [j.id, s.index])} if {
	"pull_request_target" in gha.events
	some j in input.jobs
	some s in j.steps
	regex.match(`(git\s+(fetch|checkout|pull)|gh\s+pr\s+checkout)`, s.run)
	head_ref(s.run)
	msg := sprintf("job %s fetches the pull request head in a pull_request_target workflow", [j.id])
}
