package rampart.iac.kubernetes.rbac_wildcard

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-020",
	"title": "RBAC wildcard",
	"severity": "high",
	"description": "A role that grants \"*\" verbs or resources grants everything, including kinds and verbs added later.",
	"fix": "List the verbs and resources the subject needs.",
}

deny contains {"msg": msg, "line": r.__line__, "resource": sprintf("rules[%d]", [i])} if {
	input.kind in {"Role", "ClusterRole"}
	some i, r in input.rules
	some field in ["verbs", "resources", "apiGroups"]
	"*" in r[field]
	field != "apiGroups"
	msg := sprintf("%s %s grants \"*\" %s", [input.kind, k8s.name, field])
}
