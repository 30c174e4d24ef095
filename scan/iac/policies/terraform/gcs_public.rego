package rampart.iac.terraform.gcs_public

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-015",
	"title": "Cloud Storage bucket public",
	"severity": "high",
	"description": "Granting allUsers or allAuthenticatedUsers a role on a bucket makes its objects available to anyone on the internet (or with any Google account).",
	"fix": "Grant roles to specific users, groups or service accounts.",
}

public := {"allUsers", "allAuthenticatedUsers"}

deny contains {"msg": msg, "line": tf.line(r, "member"), "resource": r.address} if {
	some r in tf.resources("google_storage_bucket_iam_member")
	r.attributes.member in public
	msg := sprintf("%s grants %s to %s", [r.address, r.attributes.role, r.attributes.member])
}

deny contains {"msg": msg, "line": tf.line(r, "members"), "resource": r.address} if {
	some r in tf.resources("google_storage_bucket_iam_binding")
	some m in r.attributes.members
	m in public
	msg := sprintf("%s grants %s to %s", [r.address, r.attributes.role, m])
}

deny contains {"msg": msg, "line": tf.line(r, "role_entity"), "resource": r.address} if {
	some r in tf.resources("google_storage_bucket_acl")
	some e in r.attributes.role_entity
	some p in public
	contains(e, p)
	msg := sprintf("%s grants %s", [r.address, e])
}
