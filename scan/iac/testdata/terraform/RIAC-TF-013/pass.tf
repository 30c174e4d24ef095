resource "aws_kms_key" "data" {
  description         = "data at rest"
  enable_key_rotation = true
}

resource "aws_kms_key" "signing" {
  description              = "release signing"
  customer_master_key_spec = "ECC_NIST_P256"
  key_usage                = "SIGN_VERIFY"
}
