package rampart.iac.terraform.s3_public_access_block

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-004",
	"title": "S3 bucket without a full public access block",
	"severity": "medium",
	"description": "The public access block is the guard that keeps a bucket private even when an ACL or policy says otherwise; all four settings must be on.",
	"fix": "Add an aws_s3_bucket_public_access_block for the bucket with block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets set to true.",
}

settings := ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]

blocked(b) if {
	some p in tf.resources("aws_s3_bucket_public_access_block")
	tf.refers(p.attributes.bucket, b)
}

deny contains {"msg": msg, "line": b.line, "resource": b.address} if {
	some b in tf.resources("aws_s3_bucket")
	not blocked(b)
	msg := sprintf("%s has no aws_s3_bucket_public_access_block", [b.address])
}

deny contains {"msg": msg, "line": tf.line(p, s), "resource": sprintf("%s.%s", [p.address, s])} if {
	some p in tf.resources("aws_s3_bucket_public_access_block")
	some s in settings
	not tf.is_true(object.get(p.attributes, s, null))
	not tf.unknown(object.get(p.attributes, s, null))
	msg := sprintf("%s does not set %s = true", [p.address, s])
}
