package rampart.iac.kubernetes.dangerous_capabilities

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-005",
	"title": "Dangerous capability added",
	"severity": "high",
	"description": "Capabilities such as SYS_ADMIN, NET_ADMIN, SYS_PTRACE or SYS_MODULE give a container near-root power over the node's kernel, network or other processes.",
	"fix": "Remove the capability from securityContext.capabilities.add; if the workload truly needs it, isolate it on dedicated nodes.",
}

dangerous := {"ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT", "DAC_READ_SEARCH", "BPF", "SYS_TIME"}

deny contains {"msg": msg, "line": doc.line(c.securityContext.capabilities, "add"), "resource": sprintf("%s/%s", [c.name, name])} if {
	some c in k8s.containers
	some cap in c.securityContext.capabilities.add
	name := trim_prefix(upper(cap), "CAP_")
	name in dangerous
	msg := sprintf("%s: container %q adds capability %s", [k8s.kname, c.name, name])
}
