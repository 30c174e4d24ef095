# The default gate: what fails a pipeline unless a waiver excuses it.
#
# input.findings are the findings to judge, as `rampart scan --format json` prints them;
# input.waived are those excused by an unexpired waiver, for policies that want to see them.
# Every message starts with the finding's fingerprint, which is what a waiver names.
package rampart.gate

rank := {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}

# at_least(f, s): f is at least as severe as s.
at_least(f, s) if rank[f.severity] >= rank[s]

# where(f): "file:line", or the file, for messages.
where(f) := sprintf("%s:%d", [f.file, f.line]) if {
	object.get(f, "line", 0) > 0
} else := f.file if {
	f.file != ""
} else := "the scanned tree"

# A secret of a known token format (the secret rules rated high or critical match a provider's
# documented format, so a match is a real credential, not a guess).
deny contains msg if {
	some f in input.findings
	f.scanner == "secrets"
	at_least(f, "high")
	msg := sprintf("%s: verified secret (%s) in %s", [f.fingerprint, f.rule_id, where(f)])
}

# A critical or high vulnerability that has a fixed version to upgrade to.
deny contains msg if {
	some f in input.findings
	f.scanner == "dependencies"
	at_least(f, "high")
	object.get(f, "fixed_version", "") != ""
	msg := sprintf("%s: %s vulnerability %s in %s %s (%s): upgrade to %s", [
		f.fingerprint, f.severity, f.rule_id,
		object.get(f, "package", "a dependency"), object.get(f, "version", ""),
		where(f), f.fixed_version,
	])
}

# A high or critical infrastructure-as-code finding.
deny contains msg if {
	some f in input.findings
	f.scanner == "iac"
	at_least(f, "high")
	msg := sprintf("%s: %s IaC finding %s in %s: %s", [f.fingerprint, f.severity, f.rule_id, where(f), f.message])
}

# A high or critical finding of another scanner, read from SARIF.
deny contains msg if {
	some f in input.findings
	f.scanner == "sarif"
	at_least(f, "high")
	msg := sprintf("%s: %s finding %s of %s in %s: %s", [
		f.fingerprint, f.severity, f.rule_id, object.get(f, "tool", "a SARIF tool"), where(f), f.message,
	])
}
