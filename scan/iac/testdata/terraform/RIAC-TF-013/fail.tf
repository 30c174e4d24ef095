resource "aws_kms_key" "data" {
  description         = "data at rest"
  enable_key_rotation = false
}
