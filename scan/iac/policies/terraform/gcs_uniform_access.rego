package rampart.iac.terraform.gcs_uniform_access

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-019",
	"title": "Cloud Storage bucket without uniform bucket-level access",
	"severity": "medium",
	"description": "Without uniform bucket-level access, per-object ACLs can make single objects public behind IAM's back.",
	"fix": "Set uniform_bucket_level_access = true.",
}

deny contains {"msg": msg, "line": tf.line(r, "uniform_bucket_level_access"), "resource": r.address} if {
	some r in tf.resources("google_storage_bucket")
	not tf.is_true(object.get(r.attributes, "uniform_bucket_level_access", null))
	not tf.unknown(object.get(r.attributes, "uniform_bucket_level_access", null))
	msg := sprintf("%s does not enforce uniform bucket-level access", [r.address])
}
