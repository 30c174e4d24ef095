package rampart.iac.arm.sql_firewall_open

import data.rampart.lib.arm
import data.rampart.lib.doc

__rego_metadata__ := {
	"id": "RIAC-ARM-003",
	"title": "Database firewall open to the whole internet",
	"severity": "high",
	"description": "A firewall rule from 0.0.0.0 to 255.255.255.255 admits every IPv4 address; the database's only protection is then its login.",
	"fix": "Allow only the addresses that need access, or use private endpoints.",
}

firewall_types := {
	"microsoft.sql/servers/firewallrules",
	"microsoft.dbforpostgresql/servers/firewallrules",
	"microsoft.dbforpostgresql/flexibleservers/firewallrules",
	"microsoft.dbformysql/servers/firewallrules",
	"microsoft.dbformysql/flexibleservers/firewallrules",
	"microsoft.dbformariadb/servers/firewallrules",
	"microsoft.synapse/workspaces/firewallrules",
}

deny contains {"msg": msg, "line": doc.line(p, "endIpAddress"), "resource": r.name} if {
	some r in input.resources
	lower(r.type) in firewall_types
	p := arm.props(r)
	p.startIpAddress == "0.0.0.0"
	p.endIpAddress == "255.255.255.255"
	msg := sprintf("firewall rule %s admits every IPv4 address", [r.name])
}
