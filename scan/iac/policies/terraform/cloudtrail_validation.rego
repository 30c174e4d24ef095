package rampart.iac.terraform.cloudtrail_validation

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-012",
	"title": "CloudTrail log file validation disabled",
	"severity": "low",
	"description": "Without log file validation nobody can prove that delivered CloudTrail logs were not altered or deleted.",
	"fix": "Set enable_log_file_validation = true.",
}

deny contains {"msg": msg, "line": tf.line(r, "enable_log_file_validation"), "resource": r.address} if {
	some r in tf.resources("aws_cloudtrail")
	not tf.is_true(object.get(r.attributes, "enable_log_file_validation", null))
	not tf.unknown(object.get(r.attributes, "enable_log_file_validation", null))
	msg := sprintf("%s does not validate log files", [r.address])
}
