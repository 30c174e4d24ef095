package rampart.iac.terraform.s3_versioning

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-003",
	"title": "S3 bucket versioning not enabled",
	"severity": "medium",
	"description": "Without versioning, an overwritten or deleted object is gone: ransomware or a mistaken deploy cannot be undone.",
	"fix": "Add an aws_s3_bucket_versioning resource with versioning_configuration { status = \"Enabled\" }.",
}

versioned(b) if tf.is_true(b.blocks.versioning[_].attributes.enabled)

versioned(b) if {
	some v in tf.resources("aws_s3_bucket_versioning")
	tf.refers(v.attributes.bucket, b)
	some c in v.blocks.versioning_configuration
	c.attributes.status != "Suspended"
	c.attributes.status != "Disabled"
}

deny contains {"msg": msg, "line": b.line, "resource": b.address} if {
	some b in tf.resources("aws_s3_bucket")
	not versioned(b)
	msg := sprintf("%s does not enable versioning", [b.address])
}
