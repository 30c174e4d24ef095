package rampart.iac.actions.unsecure_commands

import data.rampart.lib.actions as gha

__rego_metadata__ := {
	"id": "RIAC-GHA-009",
	"title": "ACTIONS_ALLOW_UNSECURE_COMMANDS enabled",
	"severity": "high",
	"description": "The deprecated set-env and add-path workflow commands let anything printed to the log (a PR title, a test's output) set environment variables and PATH for later steps: code execution.",
	"fix": "Remove ACTIONS_ALLOW_UNSECURE_COMMANDS and use $GITHUB_ENV and $GITHUB_PATH.",
}

enabled(v) if lower(sprintf("%v", [v])) == "true"

deny contains {"msg": msg, "line": input.env_lines.ACTIONS_ALLOW_UNSECURE_COMMANDS, "resource": "workflow"} if {
	enabled(input.env.ACTIONS_ALLOW_UNSECURE_COMMANDS)
	msg := "the workflow sets ACTIONS_ALLOW_UNSECURE_COMMANDS"
}

deny contains {"msg": msg, "line": j.env_lines.ACTIONS_ALLOW_UNSECURE_COMMANDS, "resource": sprintf("jobs.%s", [j.id])} if {
	some j in input.jobs
	enabled(j.env.ACTIONS_ALLOW_UNSECURE_COMMANDS)
	msg := sprintf("job %s sets ACTIONS_ALLOW_UNSECURE_COMMANDS", [j.id])
}

deny contains {"msg": msg, "line": s.env_lines.ACTIONS_ALLOW_UNSECURE_COMMANDS, "resource": sprintf("jobs.%s.steps[%d]", [j.id, s.index])} if {
	some j in input.jobs
	some s in j.steps
	enabled(s.env.ACTIONS_ALLOW_UNSECURE_COMMANDS)
	msg := sprintf("job %s sets ACTIONS_ALLOW_UNSECURE_COMMANDS in a step", [j.id])
}
