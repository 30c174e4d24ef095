package rampart.iac.dockerfile.expose_ssh

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-011",
	"title": "SSH port exposed",
	"severity": "medium",
	"description": "Exposing port 22 means an SSH daemon in the container: another way in, with its own keys to manage. Use kubectl exec or docker exec instead.",
	"fix": "Remove EXPOSE 22 and the SSH server.",
}

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in input.instructions
	i.cmd == "expose"
	some a in i.args
	split(a, "/")[0] == "22"
	msg := "EXPOSE 22: the image runs an SSH server"
}
