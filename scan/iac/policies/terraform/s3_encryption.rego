package rampart.iac.terraform.s3_encryption

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-002",
	"title": "S3 bucket without an encryption configuration",
	"severity": "low",
	"description": "Without a server-side encryption configuration the bucket relies on the account default (SSE-S3 since 2023); sensitive data should use a KMS key you control, declared in code.",
	"fix": "Add an aws_s3_bucket_server_side_encryption_configuration for the bucket (sse_algorithm aws:kms with a customer managed key).",
}

encrypted(b) if b.blocks.server_side_encryption_configuration

encrypted(b) if {
	some e in tf.resources("aws_s3_bucket_server_side_encryption_configuration")
	tf.refers(e.attributes.bucket, b)
}

deny contains {"msg": msg, "line": b.line, "resource": b.address} if {
	some b in tf.resources("aws_s3_bucket")
	not encrypted(b)
	msg := sprintf("%s has no server-side encryption configuration", [b.address])
}
