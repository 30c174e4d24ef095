package rampart.iac.dockerfile.no_healthcheck

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-012",
	"title": "No HEALTHCHECK",
	"severity": "info",
	"description": "Without a HEALTHCHECK, Docker and Swarm cannot tell a hung container from a healthy one.",
	"fix": "Add a HEALTHCHECK (or HEALTHCHECK NONE to say it is intentional, e.g. when Kubernetes probes are used).",
}

deny contains {"msg": msg, "line": df.final_from.line, "resource": "final stage"} if {
	df.final_from
	count([i | some i in input.instructions; i.cmd == "healthcheck"]) == 0
	msg := "the image has no HEALTHCHECK"
}
