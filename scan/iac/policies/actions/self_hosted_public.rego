package rampart.iac.actions.self_hosted_public

import data.rampart.lib.actions as gha

__rego_metadata__ := {
	"id": "RIAC-GHA-008",
	"title": "Self-hosted runner on events from outsiders",
	"severity": "high",
	"description": "Pull requests and comments from forks run on the self-hosted runner; outsiders' code gets a persistent machine inside your network.",
	"fix": "Run these jobs on GitHub-hosted runners, or on ephemeral, isolated self-hosted runners with approval required for outside contributors.",
}

deny contains {"msg": msg, "line": j.runs_on_line, "resource": sprintf("jobs.%s", [j.id])} if {
	some e in gha.events
	e in gha.public_events
	some j in input.jobs
	some l in j.runs_on
	lower(l) == "self-hosted"
	msg := sprintf("job %s runs on a self-hosted runner and the workflow runs on %s", [j.id, e])
}
