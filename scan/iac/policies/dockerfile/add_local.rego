package rampart.iac.dockerfile.add_local

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-013",
	"title": "ADD used to copy local files",
	"severity": "low",
	"description": "ADD silently extracts archives and fetches URLs; for plain files COPY says what happens and nothing more.",
	"fix": "Use COPY for local files.",
}

archive(a) if regex.match(`\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst)$`, lower(a))

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in input.instructions
	i.cmd == "add"
	count(i.args) >= 2
	sources := array.slice(i.args, 0, count(i.args) - 1)
	some s in sources
	not regex.match(`^(https?|ftp|git)://|^git@|\.git$`, s)
	not archive(s)
	msg := sprintf("ADD %s copies a local file; use COPY", [s])
}
