package rampart.iac.terraform.rds_unencrypted

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-009",
	"title": "Database storage not encrypted",
	"severity": "medium",
	"description": "RDS storage is unencrypted unless storage_encrypted is true; snapshots and backups are then unencrypted too, and encryption cannot be turned on later without a copy.",
	"fix": "Set storage_encrypted = true (and kms_key_id to a customer managed key).",
}

deny contains {"msg": msg, "line": tf.line(r, "storage_encrypted"), "resource": r.address} if {
	some t in ["aws_db_instance", "aws_rds_cluster"]
	some r in tf.resources(t)
	not tf.is_true(object.get(r.attributes, "storage_encrypted", null))
	not tf.unknown(object.get(r.attributes, "storage_encrypted", null))
	not r.attributes.replicate_source_db
	not r.attributes.snapshot_identifier
	msg := sprintf("%s does not encrypt its storage", [r.address])
}
