package rampart.iac.kubernetes.resource_limits

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-011",
	"title": "CPU or memory limit missing",
	"severity": "low",
	"description": "A container without limits can use all of its node's memory or CPU and starve its neighbours (denial of service).",
	"fix": "Set resources.limits.memory and resources.limits.cpu.",
}

deny contains {"msg": msg, "line": doc.line2(c, "resources", "limits"), "resource": sprintf("%s/%s", [c.name, r])} if {
	some c in k8s.containers
	some r in ["cpu", "memory"]
	not c.resources.limits[r]
	msg := sprintf("%s: container %q has no %s limit", [k8s.kname, c.name, r])
}
