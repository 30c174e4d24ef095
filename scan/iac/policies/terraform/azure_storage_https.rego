package rampart.iac.terraform.azure_storage_https

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-016",
	"title": "Azure storage account accepts HTTP",
	"severity": "high",
	"description": "With HTTPS-only traffic turned off, the storage account accepts unencrypted requests: credentials and data cross the network in clear.",
	"fix": "Set https_traffic_only_enabled = true (enable_https_traffic_only in azurerm < 4), which is the default.",
}

deny contains {"msg": msg, "line": tf.line(r, a), "resource": r.address} if {
	some r in tf.resources("azurerm_storage_account")
	some a in ["enable_https_traffic_only", "https_traffic_only_enabled"]
	tf.is_false(r.attributes[a])
	msg := sprintf("%s allows plain HTTP (%s = false)", [r.address, a])
}
