resource "aws_vpc_security_group_ingress_rule" "rdp" {
  security_group_id = aws_security_group.windows.id
  cidr_ipv4         = "192.0.2.0/24"
  from_port         = 3389
  to_port           = 3389
  ip_protocol       = "tcp"
}
