package rampart.iac.actions.write_all

import data.rampart.lib.actions as gha

__rego_metadata__ := {
	"id": "RIAC-GHA-005",
	"title": "permissions: write-all",
	"severity": "high",
	"description": "write-all gives the workflow's GITHUB_TOKEN write access to contents, packages, deployments and more; any compromised step can push code or publish releases.",
	"fix": "Declare only the scopes needed, e.g. permissions: { contents: read }.",
}

deny contains {"msg": msg, "line": input.permissions_line, "resource": "workflow"} if {
	input.permissions == "write-all"
	msg := "the workflow grants permissions: write-all"
}

deny contains {"msg": msg, "line": j.permissions_line, "resource": sprintf("jobs.%s", [j.id])} if {
	some j in input.jobs
	j.permissions == "write-all"
	msg := sprintf("job %s grants permissions: write-all", [j.id])
}
