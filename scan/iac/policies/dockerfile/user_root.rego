package rampart.iac.dockerfile.user_root

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-002",
	"title": "Runs as root (USER root)",
	"severity": "high",
	"description": "The last USER of the final stage is root (or UID 0): the container's processes run as root.",
	"fix": "Switch to an unprivileged user at the end of the final stage.",
}

root_user(u) if split(lower(u), ":")[0] in {"root", "0"}

deny contains {"msg": msg, "line": last.line, "resource": "final stage"} if {
	users := [i | some i in input.instructions; i.cmd == "user"; df.in_final(i)]
	count(users) > 0
	last := users[count(users) - 1]
	root_user(last.value)
	msg := sprintf("the final stage ends with USER %s, so the container runs as root", [last.value])
}
