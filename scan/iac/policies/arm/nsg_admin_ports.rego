package rampart.iac.arm.nsg_admin_ports

import data.rampart.lib.arm
import data.rampart.lib.doc
import data.rampart.lib.net

__rego_metadata__ := {
	"id": "RIAC-ARM-006",
	"title": "Network security group opens SSH or RDP to the internet",
	"severity": "high",
	"description": "An inbound Allow rule from *, Internet or 0.0.0.0/0 to port 22 or 3389 exposes remote administration to the whole internet.",
	"fix": "Restrict sourceAddressPrefix to known ranges, or use Azure Bastion or just-in-time VM access.",
}

rules contains {"p": p, "line": p.__line__, "resource": r.name} if {
	some r in arm.resources("Microsoft.Network/networkSecurityGroups/securityRules")
	p := arm.props(r)
}

rules contains {"p": p, "line": p.__line__, "resource": sprintf("%s/%s", [r.name, object.get(rule, "name", "")])} if {
	some r in arm.resources("Microsoft.Network/networkSecurityGroups")
	some rule in arm.props(r).securityRules
	p := rule.properties
}

values(p, one, many) := array.concat([x | x := p[one]], object.get(p, many, []))

deny contains {"msg": msg, "line": r.line, "resource": r.resource} if {
	some r in rules
	lower(r.p.direction) == "inbound"
	lower(r.p.access) == "allow"
	some s in values(r.p, "sourceAddressPrefix", "sourceAddressPrefixes")
	net.any_source(s)
	some port in [22, 3389]
	some spec in values(r.p, "destinationPortRange", "destinationPortRanges")
	net.port_in_spec(spec, port)
	msg := sprintf("security rule %s allows port %d from the internet", [r.resource, port])
}
