# Network helpers shared by the cloud rules.
package rampart.lib.net

# any_source is an address prefix that matches the whole internet.
any_source(s) if lower(s) in {"*", "0.0.0.0/0", "0.0.0.0", "::/0", "internet", "any"}

# port_in_spec: a port specification ("22", "20-30", "*") includes port p.
port_in_spec(spec, p) if spec == "*"

port_in_spec(spec, p) if to_number(spec) == p

port_in_spec(spec, p) if {
	is_number(spec)
	spec == p
}

port_in_spec(spec, p) if {
	is_string(spec)
	parts := split(spec, "-")
	count(parts) == 2
	to_number(trim_space(parts[0])) <= p
	to_number(trim_space(parts[1])) >= p
}
