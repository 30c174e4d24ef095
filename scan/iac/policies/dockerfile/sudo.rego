package rampart.iac.dockerfile.sudo

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-010",
	"title": "sudo in RUN",
	"severity": "medium",
	"description": "sudo in a Dockerfile means the build switches users back and forth; the image carries sudo and a user allowed to become root.",
	"fix": "Run the privileged steps before USER, as root, and do not install sudo.",
}

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in df.runs
	regex.match(`(^|[;&|(]|\s)sudo\s`, i.value)
	msg := "RUN uses sudo"
}
