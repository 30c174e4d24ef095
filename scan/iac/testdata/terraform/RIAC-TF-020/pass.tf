resource "aws_eks_cluster" "main" {
  name     = "main"
  role_arn = aws_iam_role.eks.arn

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    public_access_cidrs     = ["192.0.2.0/24"]
  }
}
