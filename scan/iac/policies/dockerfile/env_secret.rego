package rampart.iac.dockerfile.env_secret

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-008",
	"title": "Secret in ENV",
	"severity": "high",
	"description": "ENV values are stored in the image configuration: anyone who can pull the image can read them with docker inspect.",
	"fix": "Pass secrets at run time (orchestrator secrets) or at build time with RUN --mount=type=secret.",
}

deny contains {"msg": msg, "line": i.line, "resource": p.key} if {
	some i in input.instructions
	i.cmd == "env"
	some p in i.pairs
	doc.secret_name(p.key)
	trim_space(p.value) != ""
	msg := sprintf("ENV %s stores a secret in the image", [p.key])
}
