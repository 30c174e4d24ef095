package rampart.iac.kubernetes.resource_requests

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-012",
	"title": "CPU or memory request missing",
	"severity": "low",
	"description": "Without requests the scheduler cannot place the pod sensibly and the pod is the first to be evicted under pressure.",
	"fix": "Set resources.requests.memory and resources.requests.cpu.",
}

deny contains {"msg": msg, "line": doc.line2(c, "resources", "requests"), "resource": sprintf("%s/%s", [c.name, r])} if {
	some c in k8s.containers
	some r in ["cpu", "memory"]
	not c.resources.requests[r]
	msg := sprintf("%s: container %q has no %s request", [k8s.kname, c.name, r])
}
