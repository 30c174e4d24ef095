package rampart.iac.kubernetes.host_network

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-007",
	"title": "Host network namespace shared",
	"severity": "high",
	"description": "With hostNetwork the pod sees every interface of the node, can bind its ports and reach services listening on localhost.",
	"fix": "Remove hostNetwork: true.",
}

deny contains {"msg": msg, "line": doc.line(k8s.pod_spec, "hostNetwork")} if {
	k8s.pod_spec.hostNetwork == true
	msg := sprintf("%s uses the host's network namespace", [k8s.kname])
}
