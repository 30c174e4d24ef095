package rampart.iac.terraform.iam_admin_policy

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-010",
	"title": "IAM policy grants all actions on all resources",
	"severity": "high",
	"description": "A statement allowing Action \"*\" on Resource \"*\" is full administrator access; anyone holding it can do anything in the account, including removing the audit trail.",
	"fix": "Grant the specific actions on the specific resources the principal needs.",
}

policy_types := ["aws_iam_policy", "aws_iam_role_policy", "aws_iam_user_policy", "aws_iam_group_policy"]

star(v) if v == "*"

star(v) if "*" in v

deny contains {"msg": msg, "line": tf.line(r, "policy"), "resource": r.address} if {
	some t in policy_types
	some r in tf.resources(t)
	some st in tf.policy_statements(r.attributes.policy)
	object.get(st, "Effect", "Allow") == "Allow"
	star(st.Action)
	star(st.Resource)
	msg := sprintf("%s allows every action on every resource", [r.address])
}

deny contains {"msg": msg, "line": st.line, "resource": d.address} if {
	some d in tf.data_sources("aws_iam_policy_document")
	some st in d.blocks.statement
	object.get(st.attributes, "effect", "Allow") == "Allow"
	"*" in st.attributes.actions
	"*" in st.attributes.resources
	msg := sprintf("%s allows every action on every resource", [d.address])
}
