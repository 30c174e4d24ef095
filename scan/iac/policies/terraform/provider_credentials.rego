package rampart.iac.terraform.provider_credentials

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-018",
	"title": "Credentials hard-coded in a provider block",
	"severity": "critical",
	"description": "A provider block with a literal access key, secret, token or password puts a cloud credential in the repository, where every clone and CI log can leak it.",
	"fix": "Remove the credential; let the provider read it from the environment, a credentials file, workload identity (OIDC) or a vault.",
}

secret_attrs := {
	"access_key", "secret_key", "token", "password", "client_secret", "client_certificate_password",
	"api_key", "api_token", "private_key", "credentials", "secret_id",
}

deny contains {"msg": msg, "line": tf.line(p, a), "resource": sprintf("%s.%s", [p.address, a])} if {
	some p in input.providers
	some a, v in p.attributes
	a in secret_attrs
	tf.literal_string(v)
	not a == "credentials" # checked below: usually a file path
	msg := sprintf("%s sets %s to a literal value", [p.address, a])
}

deny contains {"msg": msg, "line": tf.line(p, "credentials"), "resource": sprintf("%s.credentials", [p.address])} if {
	some p in input.providers
	startswith(trim_space(p.attributes.credentials), "{")
	msg := sprintf("%s embeds service account credentials", [p.address])
}
