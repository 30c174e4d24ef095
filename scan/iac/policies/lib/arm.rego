# Azure Resource Manager helpers.
package rampart.lib.arm

resources(t) := [r | some r in input.resources; lower(r.type) == lower(t)]

props(r) := object.get(r, "properties", {})

# expression: an ARM template expression ("[parameters('x')]"), unknown before deployment.
expression(v) if {
	is_string(v)
	startswith(v, "[")
	not startswith(v, "[[")
}
