package rampart.iac.dockerfile.arg_secret

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-009",
	"title": "Secret passed as a build ARG",
	"severity": "medium",
	"description": "Build argument values are recorded in the image history (docker history) when used by a RUN instruction.",
	"fix": "Use RUN --mount=type=secret,id=<name> and docker build --secret instead of ARG.",
}

deny contains {"msg": msg, "line": i.line, "resource": p.key} if {
	some i in input.instructions
	i.cmd == "arg"
	some p in i.pairs
	doc.secret_name(p.key)
	msg := sprintf("ARG %s passes a secret through the image history", [p.key])
}
