package rampart.iac.arm.storage_tls

import data.rampart.lib.arm
import data.rampart.lib.doc

__rego_metadata__ := {
	"id": "RIAC-ARM-002",
	"title": "Storage account allows TLS below 1.2",
	"severity": "medium",
	"description": "TLS 1.0 and 1.1 are deprecated and weak; a storage account that accepts them allows downgraded connections.",
	"fix": "Set properties.minimumTlsVersion to TLS1_2.",
}

deny contains {"msg": msg, "line": doc.line(p, "minimumTlsVersion"), "resource": r.name} if {
	some r in arm.resources("Microsoft.Storage/storageAccounts")
	p := arm.props(r)
	p.minimumTlsVersion in {"TLS1_0", "TLS1_1"}
	msg := sprintf("storage account %s allows %s", [r.name, p.minimumTlsVersion])
}
