package rampart.iac.actions.missing_permissions

import data.rampart.lib.actions as gha

__rego_metadata__ := {
	"id": "RIAC-GHA-006",
	"title": "No top-level permissions",
	"severity": "medium",
	"description": "Without a permissions block the GITHUB_TOKEN gets the repository's default scopes, which are read-write in many repositories and organisations.",
	"fix": "Add permissions: { contents: read } at the top of the workflow and widen per job where needed.",
}

deny contains {"msg": msg, "line": input.on_line, "resource": "workflow"} if {
	not input.has_permissions
	some j in input.jobs
	not j.has_permissions
	msg := "the workflow does not declare permissions, so the token gets the repository default"
}
