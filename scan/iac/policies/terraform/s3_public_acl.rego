package rampart.iac.terraform.s3_public_acl

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-001",
	"title": "S3 bucket with a public ACL",
	"severity": "high",
	"description": "A public-read, public-read-write or authenticated-read canned ACL makes the bucket's objects readable (or writable) by anyone on the internet or any AWS account.",
	"fix": "Use the private ACL (or no ACL with BucketOwnerEnforced ownership) and serve public content through CloudFront with origin access control.",
}

public_acls := {"public-read", "public-read-write", "authenticated-read"}

deny contains {"msg": msg, "line": tf.line(r, "acl"), "resource": r.address} if {
	some t in ["aws_s3_bucket", "aws_s3_bucket_acl"]
	some r in tf.resources(t)
	r.attributes.acl in public_acls
	msg := sprintf("%s has the public ACL %q", [r.address, r.attributes.acl])
}
