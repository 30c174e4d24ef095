package rampart.iac.kubernetes.seccomp_unconfined

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-017",
	"title": "Seccomp unconfined",
	"severity": "medium",
	"description": "An Unconfined seccomp profile lets the container call every system call, including those used in kernel exploits.",
	"fix": "Use seccompProfile.type: RuntimeDefault (or a Localhost profile).",
}

deny contains {"msg": msg, "line": doc.line(k8s.pod_spec.securityContext.seccompProfile, "type")} if {
	k8s.pod_spec.securityContext.seccompProfile.type == "Unconfined"
	msg := sprintf("%s runs without a seccomp profile (Unconfined)", [k8s.kname])
}

deny contains {"msg": msg, "line": doc.line(c.securityContext.seccompProfile, "type"), "resource": c.name} if {
	some c in k8s.containers
	c.securityContext.seccompProfile.type == "Unconfined"
	msg := sprintf("%s: container %q runs without a seccomp profile (Unconfined)", [k8s.kname, c.name])
}
