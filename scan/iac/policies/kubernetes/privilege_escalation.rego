package rampart.iac.kubernetes.privilege_escalation

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-002",
	"title": "Privilege escalation allowed",
	"severity": "medium",
	"description": "Unless allowPrivilegeEscalation is false, a process in the container can gain more privileges than its parent (setuid binaries, file capabilities).",
	"fix": "Set securityContext.allowPrivilegeEscalation: false on every container.",
}

deny contains {"msg": msg, "line": doc.line2(c, "securityContext", "allowPrivilegeEscalation"), "resource": c.name} if {
	some c in k8s.containers
	not c.securityContext.allowPrivilegeEscalation == false
	msg := sprintf("%s: container %q does not set allowPrivilegeEscalation: false", [k8s.kname, c.name])
}
