package rampart.iac.kubernetes.cluster_admin_binding

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-021",
	"title": "Binding to cluster-admin",
	"severity": "high",
	"description": "cluster-admin can do anything in every namespace; subjects bound to it are as powerful as the cluster's owner.",
	"fix": "Bind a role with only the permissions needed, in the namespace needed.",
}

deny contains {"msg": msg, "line": doc.line(input.roleRef, "name")} if {
	input.kind in {"ClusterRoleBinding", "RoleBinding"}
	input.roleRef.name == "cluster-admin"
	msg := sprintf("%s %s binds cluster-admin", [input.kind, k8s.name])
}
