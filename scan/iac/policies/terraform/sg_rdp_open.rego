package rampart.iac.terraform.sg_rdp_open

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-006",
	"title": "RDP open to the internet",
	"severity": "high",
	"description": "A security group rule admitting 0.0.0.0/0 (or ::/0) to port 3389 exposes Remote Desktop to the internet, a favourite entry point of ransomware.",
	"fix": "Restrict the source to known address ranges or use a VPN or bastion.",
}

deny contains {"msg": msg, "line": r.line, "resource": r.resource} if {
	some r in tf.ingress
	tf.from_anywhere(r)
	tf.opens_port(r, 3389)
	msg := sprintf("%s allows RDP (port 3389) from anywhere", [r.resource])
}
