package rampart.iac.arm.storage_public_blob

import data.rampart.lib.arm
import data.rampart.lib.doc

__rego_metadata__ := {
	"id": "RIAC-ARM-007",
	"title": "Storage account allows public blob access",
	"severity": "medium",
	"description": "allowBlobPublicAccess: true lets any container be made public, readable anonymously from the internet.",
	"fix": "Set properties.allowBlobPublicAccess to false.",
}

deny contains {"msg": msg, "line": doc.line(p, "allowBlobPublicAccess"), "resource": r.name} if {
	some r in arm.resources("Microsoft.Storage/storageAccounts")
	p := arm.props(r)
	p.allowBlobPublicAccess == true
	msg := sprintf("storage account %s allows anonymous public blob access", [r.name])
}
