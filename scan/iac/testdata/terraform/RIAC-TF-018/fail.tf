provider "aws" {
  region     = "eu-west-1"
  access_key = var.aws_access_key_id
  secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
}
