package rampart.iac.terraform.sg_ssh_open

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-005",
	"title": "SSH open to the internet",
	"severity": "high",
	"description": "A security group rule admitting 0.0.0.0/0 (or ::/0) to port 22 exposes SSH to the whole internet's brute force and exploits.",
	"fix": "Restrict the source to known address ranges, or use SSM Session Manager or a bastion instead of open SSH.",
}

deny contains {"msg": msg, "line": r.line, "resource": r.resource} if {
	some r in tf.ingress
	tf.from_anywhere(r)
	tf.opens_port(r, 22)
	msg := sprintf("%s allows SSH (port 22) from anywhere", [r.resource])
}
