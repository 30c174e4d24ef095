package rampart.iac.terraform.sg_all_open

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-007",
	"title": "All ports open to the internet",
	"severity": "critical",
	"description": "A security group rule admitting all protocols or all ports from 0.0.0.0/0 puts every service of the instance on the internet.",
	"fix": "Allow only the ports the service needs, from the sources that need them.",
}

wide(r) if tf.all_protocols(r)

wide(r) if {
	to_number(r.from) <= 1
	to_number(r.to) >= 65535
}

deny contains {"msg": msg, "line": r.line, "resource": r.resource} if {
	some r in tf.ingress
	tf.from_anywhere(r)
	wide(r)
	msg := sprintf("%s allows all ports from anywhere", [r.resource])
}
