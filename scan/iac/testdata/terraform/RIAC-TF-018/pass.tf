provider "aws" {
  region     = "eu-west-1"
  access_key = var.aws_access_key_id
  secret_key = var.aws_secret_access_key
}

provider "google" {
  project     = "example"
  credentials = file("account.json")
}
