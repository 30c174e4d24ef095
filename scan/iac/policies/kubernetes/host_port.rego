package rampart.iac.kubernetes.host_port

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-022",
	"title": "hostPort used",
	"severity": "medium",
	"description": "A hostPort binds the port on the node's address, bypassing network policies and limiting scheduling.",
	"fix": "Remove hostPort; expose the container through a Service.",
}

deny contains {"msg": msg, "line": doc.line(p, "hostPort"), "resource": sprintf("%s/%v", [c.name, p.hostPort])} if {
	some c in k8s.containers
	some p in c.ports
	p.hostPort > 0
	msg := sprintf("%s: container %q binds host port %v", [k8s.kname, c.name, p.hostPort])
}
