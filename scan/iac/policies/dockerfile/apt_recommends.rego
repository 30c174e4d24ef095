package rampart.iac.dockerfile.apt_recommends

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-005",
	"title": "apt-get install without --no-install-recommends",
	"severity": "low",
	"description": "Recommended packages are installed by default: the image grows and so does its attack surface.",
	"fix": "Use apt-get install --no-install-recommends.",
}

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in df.runs
	regex.match(`apt(-get)?\s+(-\S+\s+)*install`, i.value)
	not contains(i.value, "--no-install-recommends")
	not regex.match(`Install-Recommends\s*[= ]\s*"?(false|0)`, i.value)
	msg := "apt-get install without --no-install-recommends"
}
