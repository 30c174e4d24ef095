package rampart.iac.terraform.kms_rotation

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-013",
	"title": "KMS key rotation disabled",
	"severity": "medium",
	"description": "Symmetric KMS keys are not rotated unless enable_key_rotation is true; a leaked key then protects data forever.",
	"fix": "Set enable_key_rotation = true.",
}

deny contains {"msg": msg, "line": tf.line(r, "enable_key_rotation"), "resource": r.address} if {
	some r in tf.resources("aws_kms_key")
	object.get(r.attributes, "customer_master_key_spec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
	not tf.is_true(object.get(r.attributes, "enable_key_rotation", null))
	not tf.unknown(object.get(r.attributes, "enable_key_rotation", null))
	msg := sprintf("%s does not rotate its key material", [r.address])
}
