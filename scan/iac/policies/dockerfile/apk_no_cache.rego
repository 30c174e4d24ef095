package rampart.iac.dockerfile.apk_no_cache

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-015",
	"title": "apk add without --no-cache",
	"severity": "low",
	"description": "apk add keeps its package index in the layer unless --no-cache is given: a bigger image with stale metadata.",
	"fix": "Use apk add --no-cache.",
}

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in df.runs
	regex.match(`apk\s+(-\S+\s+)*add`, i.value)
	not contains(i.value, "--no-cache")
	not contains(i.value, "/var/cache/apk")
	msg := "apk add without --no-cache"
}
