package rampart.iac.terraform.azure_storage_tls

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-017",
	"title": "Azure storage account allows TLS below 1.2",
	"severity": "medium",
	"description": "TLS 1.0 and 1.1 have known weaknesses and are deprecated; clients able to negotiate them can be downgraded.",
	"fix": "Set min_tls_version = \"TLS1_2\".",
}

deny contains {"msg": msg, "line": tf.line(r, "min_tls_version"), "resource": r.address} if {
	some r in tf.resources("azurerm_storage_account")
	r.attributes.min_tls_version in {"TLS1_0", "TLS1_1"}
	msg := sprintf("%s allows %s", [r.address, r.attributes.min_tls_version])
}
