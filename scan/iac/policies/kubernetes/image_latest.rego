package rampart.iac.kubernetes.image_latest

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-013",
	"title": "Image tag latest or missing",
	"severity": "medium",
	"description": "An image without a tag or tagged latest changes under the workload: deployments are not reproducible and an attacker who can push the tag reaches production.",
	"fix": "Use an immutable version tag, better a digest (image@sha256:...).",
}

deny contains {"msg": msg, "line": doc.line(c, "image"), "resource": c.name} if {
	some c in k8s.containers
	not k8s.has_digest(c.image)
	k8s.image_tag(c.image) in {"", "latest"}
	msg := sprintf("%s: container %q uses image %q without a version tag", [k8s.kname, c.name, c.image])
}
