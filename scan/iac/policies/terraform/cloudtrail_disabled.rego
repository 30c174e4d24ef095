package rampart.iac.terraform.cloudtrail_disabled

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-011",
	"title": "CloudTrail logging disabled",
	"severity": "high",
	"description": "A trail with enable_logging = false records nothing: API activity, including an attacker's, leaves no audit trail.",
	"fix": "Remove enable_logging = false.",
}

deny contains {"msg": msg, "line": tf.line(r, "enable_logging"), "resource": r.address} if {
	some r in tf.resources("aws_cloudtrail")
	tf.is_false(r.attributes.enable_logging)
	msg := sprintf("%s has logging disabled", [r.address])
}
