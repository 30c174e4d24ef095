package rampart.iac.kubernetes.run_as_root_user

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-025",
	"title": "Container runs as UID 0",
	"severity": "high",
	"description": "runAsUser: 0 runs the container as root explicitly; a container breakout then starts as root on the node.",
	"fix": "Set runAsUser to a non-zero UID.",
}

deny contains {"msg": msg, "line": doc.line(c.securityContext, "runAsUser"), "resource": c.name} if {
	some c in k8s.containers
	c.securityContext.runAsUser == 0
	msg := sprintf("%s: container %q runs as UID 0", [k8s.kname, c.name])
}

deny contains {"msg": msg, "line": doc.line(k8s.pod_spec.securityContext, "runAsUser")} if {
	k8s.pod_spec.securityContext.runAsUser == 0
	msg := sprintf("%s runs as UID 0", [k8s.kname])
}
