package rampart.iac.kubernetes.host_ipc

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-009",
	"title": "Host IPC namespace shared",
	"severity": "high",
	"description": "With hostIPC the pod can read and write the shared memory of every process of the node.",
	"fix": "Remove hostIPC: true.",
}

deny contains {"msg": msg, "line": doc.line(k8s.pod_spec, "hostIPC")} if {
	k8s.pod_spec.hostIPC == true
	msg := sprintf("%s uses the host's IPC namespace", [k8s.kname])
}
