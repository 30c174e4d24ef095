package rampart.iac.dockerfile.curl_pipe_shell

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-007",
	"title": "Remote script piped to a shell",
	"severity": "high",
	"description": "curl ... | sh runs whatever the server returns, unverified, with the build's privileges.",
	"fix": "Download the script, verify its checksum or signature, then run it.",
}

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in df.runs
	regex.match(`(curl|wget)\s[^|;&]*\|\s*(sudo\s+)?(\S*/)?(ba|z|k|da|a)?sh\b`, i.value)
	msg := "a downloaded script is piped straight into a shell"
}
