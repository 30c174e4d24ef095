package rampart.iac.kubernetes.runtime_socket

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-023",
	"title": "Container runtime socket mounted",
	"severity": "critical",
	"description": "Access to the Docker, containerd or CRI-O socket is root on the node: the pod can start privileged containers.",
	"fix": "Do not mount the runtime socket; build images with a rootless builder (BuildKit rootless, kaniko).",
}

sockets := {"docker.sock", "containerd.sock", "crio.sock", "cri-dockerd.sock"}

deny contains {"msg": msg, "line": doc.line(v.hostPath, "path"), "resource": v.name} if {
	some v in k8s.pod_spec.volumes
	parts := split(trim_suffix(v.hostPath.path, "/"), "/")
	parts[count(parts) - 1] in sockets
	msg := sprintf("%s mounts the container runtime socket %s", [k8s.kname, v.hostPath.path])
}
