package rampart.iac.kubernetes.host_pid

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-008",
	"title": "Host PID namespace shared",
	"severity": "high",
	"description": "With hostPID the pod sees and can signal or trace every process of the node.",
	"fix": "Remove hostPID: true.",
}

deny contains {"msg": msg, "line": doc.line(k8s.pod_spec, "hostPID")} if {
	k8s.pod_spec.hostPID == true
	msg := sprintf("%s uses the host's PID namespace", [k8s.kname])
}
