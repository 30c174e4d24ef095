package rampart.iac.kubernetes.service_exposure

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-019",
	"title": "Service exposed outside the cluster",
	"severity": "medium",
	"description": "NodePort and LoadBalancer services are reachable from outside the cluster, often from the internet.",
	"fix": "Use a ClusterIP service behind an ingress with authentication and TLS, or restrict loadBalancerSourceRanges.",
}

deny contains {"msg": msg, "line": doc.line(input.spec, "type")} if {
	input.kind == "Service"
	input.spec.type in {"NodePort", "LoadBalancer"}
	not input.spec.loadBalancerSourceRanges
	msg := sprintf("Service %s is of type %s and reachable from outside the cluster", [k8s.name, input.spec.type])
}
