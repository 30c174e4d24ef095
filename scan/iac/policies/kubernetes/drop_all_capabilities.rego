package rampart.iac.kubernetes.drop_all_capabilities

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-006",
	"title": "Capabilities not dropped",
	"severity": "low",
	"description": "Containers start with a default set of Linux capabilities (NET_RAW, CHOWN, SETUID...) that most applications never use.",
	"fix": "Set securityContext.capabilities.drop: [\"ALL\"] and add back only what is needed.",
}

drops_all(c) if {
	some d in c.securityContext.capabilities.drop
	upper(d) == "ALL"
}

deny contains {"msg": msg, "line": doc.line2(c, "securityContext", "capabilities"), "resource": c.name} if {
	some c in k8s.containers
	not drops_all(c)
	msg := sprintf("%s: container %q does not drop ALL capabilities", [k8s.kname, c.name])
}
