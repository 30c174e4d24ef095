package rampart.iac.kubernetes.run_as_non_root

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-003",
	"title": "Container may run as root",
	"severity": "medium",
	"description": "Without runAsNonRoot: true (or a non-zero runAsUser) the container runs as whatever user the image names, often root.",
	"fix": "Set securityContext.runAsNonRoot: true (pod or container level) and run the image as a non-root user.",
}

non_root(c) if c.securityContext.runAsNonRoot == true

non_root(c) if {
	k8s.pod_spec.securityContext.runAsNonRoot == true
	not c.securityContext.runAsNonRoot == false
}

non_root(c) if {
	is_number(c.securityContext.runAsUser)
	c.securityContext.runAsUser > 0
}

non_root(c) if {
	is_number(k8s.pod_spec.securityContext.runAsUser)
	k8s.pod_spec.securityContext.runAsUser > 0
	not c.securityContext.runAsUser == 0
}

deny contains {"msg": msg, "line": doc.line2(c, "securityContext", "runAsNonRoot"), "resource": c.name} if {
	some c in k8s.containers
	not non_root(c)
	msg := sprintf("%s: container %q may run as root (no runAsNonRoot: true or non-zero runAsUser)", [k8s.kname, c.name])
}
