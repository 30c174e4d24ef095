package rampart.iac.arm.keyvault_soft_delete

import data.rampart.lib.arm
import data.rampart.lib.doc

__rego_metadata__ := {
	"id": "RIAC-ARM-005",
	"title": "Key Vault soft delete disabled",
	"severity": "medium",
	"description": "With soft delete off, deleting the vault or a secret is immediate and irreversible.",
	"fix": "Remove enableSoftDelete: false (soft delete is on by default) and set softDeleteRetentionInDays.",
}

deny contains {"msg": msg, "line": doc.line(p, "enableSoftDelete"), "resource": r.name} if {
	some r in arm.resources("Microsoft.KeyVault/vaults")
	p := arm.props(r)
	p.enableSoftDelete == false
	msg := sprintf("key vault %s disables soft delete", [r.name])
}
