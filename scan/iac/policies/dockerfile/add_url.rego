package rampart.iac.dockerfile.add_url

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-003",
	"title": "ADD downloads from a URL without a checksum",
	"severity": "medium",
	"description": "ADD <url> fetches whatever the server returns at build time, unverified; a compromised server or connection puts its content in the image.",
	"fix": "Use ADD --checksum=sha256:<digest> <url>, or download with curl and verify the checksum in RUN.",
}

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in input.instructions
	i.cmd == "add"
	some a in i.args
	regex.match(`^(https?|ftp)://`, a)
	not checksum(i)
	msg := sprintf("ADD fetches %s without verifying a checksum", [a])
}

checksum(i) if {
	some f in i.flags
	startswith(f, "--checksum=")
}
