package rampart.iac.kubernetes.host_path

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-010",
	"title": "hostPath volume",
	"severity": "medium",
	"description": "A hostPath volume exposes the node's file system to the pod; writable mounts of system paths lead to node compromise.",
	"fix": "Use a persistentVolumeClaim, configMap, secret or emptyDir instead of hostPath.",
}

deny contains {"msg": msg, "line": doc.line(v, "hostPath"), "resource": v.name} if {
	some v in k8s.pod_spec.volumes
	v.hostPath
	msg := sprintf("%s mounts host path %q (volume %q)", [k8s.kname, object.get(v.hostPath, "path", ""), v.name])
}
