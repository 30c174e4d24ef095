# Terraform helpers.
package rampart.lib.terraform

import data.rampart.lib.net

# resources(t) lists the resource blocks of type t.
resources(t) := [r | some r in input.resources; r.type == t]

data_sources(t) := [d | some d in input.data; d.type == t]

unknown(v) if v.__unknown__ == true

# line(b, attr) is the line of attribute attr of block b, or of the block.
line(b, attr) := b.lines[attr]

line(b, attr) := b.line if not b.lines[attr]

# list(v) is v when it is an array, [v] for a single known value, [] otherwise.
list(v) := v if is_array(v)

list(v) := [v] if {
	is_string(v)
}

list(v) := [] if {
	not is_array(v)
	not is_string(v)
}

# refers(v, r): the value v names resource r, by reference (aws_s3_bucket.b.id) or by the
# literal value of its bucket/name attribute.
refers(v, r) if r.address in v.refs

refers(v, r) if {
	is_string(v)
	v == r.attributes.bucket
}

refers(v, r) if {
	is_string(v)
	v == r.attributes.name
}

# is_true: a literal true (bool or string).
is_true(v) if v == true

is_true(v) if v == "true"

is_false(v) if v == false

is_false(v) if v == "false"

# literal_string: a non-empty string known without a plan.
literal_string(v) if {
	is_string(v)
	trim_space(v) != ""
}

# policy_statements(v) lists the statements of an IAM policy given as JSON text or as the
# object jsonencode was called with.
policy_statements(v) := sts if {
	doc := policy_doc(v)
	sts := statement_list(doc.Statement)
}

policy_doc(v) := json.unmarshal(v) if is_string(v)

policy_doc(v) := v if {
	is_object(v)
	not unknown(v)
}

statement_list(s) := s if is_array(s)

statement_list(s) := [s] if is_object(s)

# ingress lists the AWS security group ingress rules of the file, normalised:
# {"from", "to", "protocol", "cidrs", "line", "resource"}.
ingress contains rule if {
	some sg in resources("aws_security_group")
	some i, b in object.get(sg.blocks, "ingress", [])
	rule := {
		"from": object.get(b.attributes, "from_port", null),
		"to": object.get(b.attributes, "to_port", null),
		"protocol": object.get(b.attributes, "protocol", null),
		"cidrs": array.concat(list(object.get(b.attributes, "cidr_blocks", [])), list(object.get(b.attributes, "ipv6_cidr_blocks", []))),
		"line": b.line,
		"resource": sprintf("%s.ingress[%d]", [sg.address, i]),
	}
}

ingress contains rule if {
	some r in resources("aws_security_group_rule")
	r.attributes.type == "ingress"
	rule := {
		"from": object.get(r.attributes, "from_port", null),
		"to": object.get(r.attributes, "to_port", null),
		"protocol": object.get(r.attributes, "protocol", null),
		"cidrs": array.concat(list(object.get(r.attributes, "cidr_blocks", [])), list(object.get(r.attributes, "ipv6_cidr_blocks", []))),
		"line": r.line,
		"resource": r.address,
	}
}

ingress contains rule if {
	some r in resources("aws_vpc_security_group_ingress_rule")
	rule := {
		"from": object.get(r.attributes, "from_port", null),
		"to": object.get(r.attributes, "to_port", null),
		"protocol": object.get(r.attributes, "ip_protocol", null),
		"cidrs": array.concat(list(object.get(r.attributes, "cidr_ipv4", [])), list(object.get(r.attributes, "cidr_ipv6", []))),
		"line": r.line,
		"resource": r.address,
	}
}

all_protocols(rule) if lower(sprintf("%v", [rule.protocol])) in {"-1", "all"}

from_anywhere(rule) if {
	some c in rule.cidrs
	c in {"0.0.0.0/0", "::/0"}
}

# opens_port: the rule admits TCP traffic to port p.
opens_port(rule, p) if all_protocols(rule)

opens_port(rule, p) if {
	lower(sprintf("%v", [rule.protocol])) in {"tcp", "6"}
	to_number(rule.from) <= p
	to_number(rule.to) >= p
}

# azure_rules lists Azure NSG rules: standalone azurerm_network_security_rule resources and
# security_rule blocks, as {"attributes", "line", "resource"}.
azure_rules contains {"attributes": r.attributes, "line": r.line, "resource": r.address} if {
	some r in resources("azurerm_network_security_rule")
}

azure_rules contains {"attributes": b.attributes, "line": b.line, "resource": sprintf("%s.security_rule[%d]", [nsg.address, i])} if {
	some nsg in resources("azurerm_network_security_group")
	some i, b in object.get(nsg.blocks, "security_rule", [])
}

azure_inbound_from_internet(a, p) if {
	lower(a.direction) == "inbound"
	lower(a.access) == "allow"
	some s in array.concat(list(object.get(a, "source_address_prefix", [])), list(object.get(a, "source_address_prefixes", [])))
	net.any_source(s)
	some spec in array.concat(list(object.get(a, "destination_port_range", [])), list(object.get(a, "destination_port_ranges", [])))
	net.port_in_spec(spec, p)
}
