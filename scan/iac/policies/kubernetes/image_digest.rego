package rampart.iac.kubernetes.image_digest

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-014",
	"title": "Image not pinned by digest",
	"severity": "low",
	"description": "Tags are mutable: the same tag can point to different images over time. A digest names exactly one image.",
	"fix": "Reference the image by digest: registry/name:tag@sha256:<digest>.",
}

deny contains {"msg": msg, "line": doc.line(c, "image"), "resource": c.name} if {
	some c in k8s.containers
	not k8s.has_digest(c.image)
	msg := sprintf("%s: container %q uses image %q without a digest", [k8s.kname, c.name, c.image])
}
