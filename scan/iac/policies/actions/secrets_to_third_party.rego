package rampart.iac.actions.secrets_to_third_party

import data.rampart.lib.actions as gha

__rego_metadata__ := {
	"id": "RIAC-GHA-007",
	"title": "Secrets passed to a third-party action in a privileged workflow",
	"severity": "high",
	"description": "In pull_request_target and workflow_run workflows, outsiders decide when the workflow runs and often what it processes; a third-party action receiving secrets there is a direct path for them to leak.",
	"fix": "Do not pass secrets to third-party actions in these workflows; if unavoidable, pin the action to a reviewed commit SHA and scope the secret to a protected environment.",
}

passes_secret(v) if regex.match(`\$\{\{[^}]*secrets\.`, sprintf("%v", [v]))

deny contains {"msg": msg, "line": object.get(s.with_lines, k, s.line), "resource": sprintf("jobs.%s.steps[%d].with.%s", [j.id, s.index, k])} if {
	gha.untrusted_trigger
	some j in input.jobs
	some s in j.steps
	gha.third_party(s.uses)
	some k, v in s.with
	passes_secret(v)
	msg := sprintf("job %s passes a secret to %s (with.%s) in a workflow triggered by outsiders", [j.id, s.uses, k])
}

deny contains {"msg": msg, "line": object.get(s.env_lines, k, s.line), "resource": sprintf("jobs.%s.steps[%d].env.%s", [j.id, s.index, k])} if {
	gha.untrusted_trigger
	some j in input.jobs
	some s in j.steps
	gha.third_party(s.uses)
	some k, v in s.env
	passes_secret(v)
	msg := sprintf("job %s passes a secret to %s (env.%s) in a workflow triggered by outsiders", [j.id, s.uses, k])
}
