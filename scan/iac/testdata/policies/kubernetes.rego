# Rego v0 syntax, as in most existing conftest policies.
package main

import data.lib.names

deny[msg] {
	input.kind == "Deployment"
	not input.spec.template.spec.securityContext.runAsNonRoot
	msg := sprintf("Deployment %s must set runAsNonRoot", [input.metadata.name])
}

warn[msg] {
	input.kind == "Deployment"
	not names.has_team_label(input)
	msg := sprintf("%s has no team label", [names.kname(input)])
}
