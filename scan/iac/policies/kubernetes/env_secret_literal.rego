package rampart.iac.kubernetes.env_secret_literal

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-018",
	"title": "Secret in an environment variable literal",
	"severity": "high",
	"description": "A credential written as a literal env value is stored in the manifest, in git and in the API server unencrypted, readable by anyone who can read the workload.",
	"fix": "Store the value in a Secret (or an external secret store) and use env.valueFrom.secretKeyRef.",
}

deny contains {"msg": msg, "line": doc.line(e, "value"), "resource": sprintf("%s/%s", [c.name, e.name])} if {
	some c in k8s.containers
	some e in c.env
	doc.secret_name(e.name)
	is_string(e.value)
	trim_space(e.value) != ""
	not startswith(e.value, "$(")
	msg := sprintf("%s: container %q sets %s to a literal value", [k8s.kname, c.name, e.name])
}
