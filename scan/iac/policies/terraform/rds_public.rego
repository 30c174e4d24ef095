package rampart.iac.terraform.rds_public

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-008",
	"title": "Database publicly accessible",
	"severity": "high",
	"description": "publicly_accessible gives the database a public address; its only protection is then the password.",
	"fix": "Set publicly_accessible = false and reach the database from inside the VPC.",
}

deny contains {"msg": msg, "line": tf.line(r, "publicly_accessible"), "resource": r.address} if {
	some t in ["aws_db_instance", "aws_rds_cluster_instance"]
	some r in tf.resources(t)
	tf.is_true(r.attributes.publicly_accessible)
	msg := sprintf("%s is publicly accessible", [r.address])
}
