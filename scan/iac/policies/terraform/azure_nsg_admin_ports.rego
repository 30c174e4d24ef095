package rampart.iac.terraform.azure_nsg_admin_ports

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-021",
	"title": "Azure network security rule opens SSH or RDP to the internet",
	"severity": "high",
	"description": "An inbound Allow rule from *, Internet or 0.0.0.0/0 to port 22 or 3389 exposes remote administration to the whole internet.",
	"fix": "Restrict source_address_prefix to known ranges or use Azure Bastion / just-in-time access.",
}

deny contains {"msg": msg, "line": r.line, "resource": r.resource} if {
	some r in tf.azure_rules
	some p in [22, 3389]
	tf.azure_inbound_from_internet(r.attributes, p)
	msg := sprintf("%s allows port %d from the internet", [r.resource, p])
}
