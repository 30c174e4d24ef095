package rampart.iac.dockerfile.chmod_777

import data.rampart.lib.doc
import data.rampart.lib.dockerfile as df

__rego_metadata__ := {
	"id": "RIAC-DF-014",
	"title": "World-writable permissions",
	"severity": "medium",
	"description": "chmod 777 lets every user in the container modify the files, including the application's code.",
	"fix": "Give the files to the user that needs them (COPY --chown) with the narrowest mode, e.g. 755 or 644.",
}

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in df.runs
	regex.match(`chmod\s+(-\S+\s+)*(0?777|a\+rwx|o\+w|ugo\+rwx)\b`, i.value)
	msg := "RUN makes files world-writable (chmod 777)"
}

deny contains {"msg": msg, "line": i.line, "resource": i.original} if {
	some i in input.instructions
	i.cmd in {"copy", "add"}
	some f in i.flags
	regex.match(`^--chmod=0?777$`, f)
	msg := sprintf("%s --chmod=777 makes files world-writable", [upper(i.cmd)])
}
