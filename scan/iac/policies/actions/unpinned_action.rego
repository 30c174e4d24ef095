package rampart.iac.actions.unpinned_action

import data.rampart.lib.actions as gha

__rego_metadata__ := {
	"id": "RIAC-GHA-003",
	"title": "Third-party action not pinned to a commit",
	"severity": "medium",
	"description": "A tag or branch of a third-party action can be moved to malicious code at any time (as in the tj-actions/changed-files compromise); the workflow then runs it with its token and secrets.",
	"fix": "Pin the action to a full 40-character commit SHA (keep the version in a comment) and let Dependabot or Renovate update it.",
}

deny contains {"msg": msg, "line": u.line, "resource": u.resource} if {
	some u in gha.uses
	gha.third_party(u.uses)
	not gha.pinned(u.uses)
	msg := sprintf("%s is not pinned to a commit SHA", [u.uses])
}
