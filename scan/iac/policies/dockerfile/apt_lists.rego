package rampart.iac.dockerfile.apt_lists

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-006",
	"title": "apt package lists left in the image",
	"severity": "low",
	"description": "apt-get update downloads package lists that stay in the layer unless removed in the same RUN: a bigger image with stale metadata.",
	"fix": "End the RUN with && rm -rf /var/lib/apt/lists/* (or use a cache mount).",
}

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in df.runs
	regex.match(`apt(-get)?\s+(-\S+\s+)*update`, i.value)
	not contains(i.value, "/var/lib/apt/lists")
	not cache_mount(i)
	msg := "apt-get update without removing /var/lib/apt/lists in the same RUN"
}

cache_mount(i) if {
	some f in i.flags
	contains(f, "type=cache")
}
