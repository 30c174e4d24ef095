package rampart.iac.arm.keyvault_purge_protection

import data.rampart.lib.arm
import data.rampart.lib.doc

__rego_metadata__ := {
	"id": "RIAC-ARM-004",
	"title": "Key Vault without purge protection",
	"severity": "medium",
	"description": "Without purge protection a deleted vault or key can be purged at once, by mistake or by an attacker, destroying everything encrypted with it.",
	"fix": "Set properties.enablePurgeProtection to true.",
}

deny contains {"msg": msg, "line": doc.line(p, "enablePurgeProtection"), "resource": r.name} if {
	some r in arm.resources("Microsoft.KeyVault/vaults")
	p := arm.props(r)
	not p.enablePurgeProtection == true
	not arm.expression(object.get(p, "enablePurgeProtection", null))
	msg := sprintf("key vault %s does not enable purge protection", [r.name])
}
