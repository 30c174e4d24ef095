package terraform.tags

violation contains {"msg": msg, "id": "ORG-TF-001", "severity": "critical"} if {
	some name
	bucket := input.resource.aws_s3_bucket[name][_]
	not bucket.tags.owner
	msg := sprintf("aws_s3_bucket.%s has no owner tag", [name])
}
