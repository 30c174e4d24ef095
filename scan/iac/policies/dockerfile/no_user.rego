package rampart.iac.dockerfile.no_user

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-001",
	"title": "No USER instruction",
	"severity": "medium",
	"description": "Without a USER instruction in the final stage the container runs as root; a compromise of the application is a compromise of root in the container.",
	"fix": "Create an unprivileged user and switch to it with USER in the final stage.",
}

deny contains {"msg": msg, "line": df.final_from.line, "resource": "final stage"} if {
	df.final_from
	df.final_from.image != "scratch"
	count([i | some i in input.instructions; i.cmd == "user"; df.in_final(i)]) == 0
	msg := sprintf("the final stage (FROM %s) has no USER instruction, so the container runs as root", [df.final_from.image])
}
