package docker

import rego.v1

deny_latest contains msg if {
	some i
	input[i].Cmd == "from"
	val := input[i].Value
	endswith(val[0], ":latest")
	msg := sprintf("do not use %s", [val[0]])
}
