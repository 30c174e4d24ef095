package rampart.iac.kubernetes.privileged

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-001",
	"title": "Privileged container",
	"severity": "high",
	"description": "A privileged container has every capability and access to all host devices: escaping to the node is trivial.",
	"fix": "Remove securityContext.privileged or set it to false; grant only the capabilities the container needs.",
}

deny contains {"msg": msg, "line": doc.line(c.securityContext, "privileged"), "resource": c.name} if {
	some c in k8s.containers
	c.securityContext.privileged == true
	msg := sprintf("%s: container %q runs privileged", [k8s.kname, c.name])
}
