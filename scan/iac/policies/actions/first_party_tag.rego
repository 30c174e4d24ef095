package rampart.iac.actions.first_party_tag

import data.rampart.lib.actions as gha

__rego_metadata__ := {
	"id": "RIAC-GHA-004",
	"title": "GitHub-owned action pinned to a tag",
	"severity": "low",
	"description": "Actions owned by GitHub (actions/*, github/*) are lower risk, but a tag is still mutable; a SHA makes the workflow reproducible.",
	"fix": "Pin to a full commit SHA with the version in a comment.",
}

deny contains {"msg": msg, "line": u.line, "resource": u.resource} if {
	some u in gha.uses
	not gha.local_or_docker(u.uses)
	gha.first_party(u.uses)
	not gha.pinned(u.uses)
	msg := sprintf("%s is pinned to a tag or branch, not a commit SHA", [u.uses])
}
