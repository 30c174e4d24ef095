# Kubernetes helpers: the pod spec and containers of any workload kind.
package rampart.lib.kubernetes

pod_spec := input.spec if input.kind == "Pod"

pod_spec := input.spec.template.spec if {
	input.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
}

pod_spec := input.spec.jobTemplate.spec.template.spec if input.kind == "CronJob"

# containers lists containers, init containers and ephemeral containers.
containers := array.concat(
	array.concat(object.get(pod_spec, "containers", []), object.get(pod_spec, "initContainers", [])),
	object.get(pod_spec, "ephemeralContainers", []),
)

name := object.get(input.metadata, "name", "")

# kname is "Deployment web", for messages.
kname := sprintf("%s %s", [input.kind, name])

# image_tag is the tag of an image reference ("" when it has none).
image_tag(image) := tag if {
	ref := split(image, "@")[0]
	parts := split(ref, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := split(last, ":")[1]
}

image_tag(image) := "" if {
	ref := split(image, "@")[0]
	parts := split(ref, "/")
	not contains(parts[count(parts) - 1], ":")
}

has_digest(image) if contains(image, "@sha256:")
