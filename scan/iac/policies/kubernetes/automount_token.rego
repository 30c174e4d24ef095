package rampart.iac.kubernetes.automount_token

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-016",
	"title": "Service account token mounted",
	"severity": "low",
	"description": "Pods get an API token of their service account by default; a compromised pod can use it against the Kubernetes API.",
	"fix": "Set automountServiceAccountToken: false in the pod spec unless the workload calls the Kubernetes API.",
}

deny contains {"msg": msg, "line": doc.line(k8s.pod_spec, "automountServiceAccountToken")} if {
	k8s.pod_spec
	not k8s.pod_spec.automountServiceAccountToken == false
	msg := sprintf("%s mounts a service account token (automountServiceAccountToken is not false)", [k8s.kname])
}
