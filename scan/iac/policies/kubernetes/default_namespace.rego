package rampart.iac.kubernetes.default_namespace

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-015",
	"title": "Object in the default namespace",
	"severity": "low",
	"description": "The default namespace has no isolation: quotas, network policies and RBAC are easier to get right in a namespace of the application's own.",
	"fix": "Deploy into a dedicated namespace.",
}

deny contains {"msg": msg, "line": doc.line(input.metadata, "namespace")} if {
	input.metadata.namespace == "default"
	msg := sprintf("%s is in the default namespace", [k8s.kname])
}
