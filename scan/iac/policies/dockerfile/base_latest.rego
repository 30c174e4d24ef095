package rampart.iac.dockerfile.base_latest

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-004",
	"title": "Base image tag latest or missing",
	"severity": "medium",
	"description": "FROM an image without a tag, or tagged latest, builds on whatever that tag points to on build day: builds are not reproducible and an upstream compromise flows in silently.",
	"fix": "Pin the base image to a version tag and digest: FROM image:1.2.3@sha256:<digest>.",
}

tag(image) := t if {
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	t := split(last, ":")[1]
}

tag(image) := "" if {
	parts := split(image, "/")
	not contains(parts[count(parts) - 1], ":")
}

deny contains {"msg": msg, "line": s.line, "resource": sprintf("stage %d", [s.index])} if {
	some s in input.stages
	image := s.image
	lower(image) != "scratch"
	not lower(image) in df.stage_names
	not contains(image, "$")
	not contains(image, "@")
	tag(image) in {"", "latest"}
	msg := sprintf("FROM %s uses no version tag", [image])
}
