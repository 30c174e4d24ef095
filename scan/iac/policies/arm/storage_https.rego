package rampart.iac.arm.storage_https

import data.rampart.lib.arm
import data.rampart.lib.doc

__rego_metadata__ := {
	"id": "RIAC-ARM-001",
	"title": "Storage account accepts HTTP",
	"severity": "high",
	"description": "supportsHttpsTrafficOnly: false lets clients talk to the storage account without TLS: keys, SAS tokens and data cross the network in clear.",
	"fix": "Set properties.supportsHttpsTrafficOnly to true (the default).",
}

deny contains {"msg": msg, "line": doc.line(p, "supportsHttpsTrafficOnly"), "resource": r.name} if {
	some r in arm.resources("Microsoft.Storage/storageAccounts")
	p := arm.props(r)
	p.supportsHttpsTrafficOnly == false
	msg := sprintf("storage account %s accepts plain HTTP", [r.name])
}
