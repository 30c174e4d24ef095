package rampart.iac.kubernetes.rbac_secrets_read

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-024",
	"title": "Role can read secrets",
	"severity": "medium",
	"description": "get, list or watch on secrets reveals every credential in the namespace (or cluster, for a ClusterRole).",
	"fix": "Grant access to named secrets only (resourceNames), or none.",
}

deny contains {"msg": msg, "line": r.__line__, "resource": sprintf("rules[%d]", [i])} if {
	input.kind in {"Role", "ClusterRole"}
	some i, r in input.rules
	"secrets" in r.resources
	some v in r.verbs
	v in {"get", "list", "watch"}
	not r.resourceNames
	msg := sprintf("%s %s can %s secrets", [input.kind, k8s.name, concat(", ", [x | some x in r.verbs; x in {"get", "list", "watch"}])])
}
