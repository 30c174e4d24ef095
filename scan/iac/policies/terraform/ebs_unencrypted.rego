package rampart.iac.terraform.ebs_unencrypted

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-014",
	"title": "EBS volume not encrypted",
	"severity": "medium",
	"description": "An unencrypted EBS volume and its snapshots hold data in clear; a shared or leaked snapshot exposes it.",
	"fix": "Set encrypted = true (or turn on EBS encryption by default for the account with aws_ebs_encryption_by_default).",
}

deny contains {"msg": msg, "line": tf.line(r, "encrypted"), "resource": r.address} if {
	some r in tf.resources("aws_ebs_volume")
	not tf.is_true(object.get(r.attributes, "encrypted", null))
	not tf.unknown(object.get(r.attributes, "encrypted", null))
	not r.attributes.snapshot_id
	msg := sprintf("%s is not encrypted", [r.address])
}
