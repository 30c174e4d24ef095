resource "aws_iam_policy" "ci" {
  name = "ci"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = "arn:aws:s3:::example-artifacts/*"
      },
      {
        Effect   = "Deny"
        Action   = "*"
        Resource = "*"
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_iam_role_policy" "read" {
  role   = aws_iam_role.ci.id
  policy = <<EOF
{
  "Version": "2012-10-17",
  "Statement": {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}
}
EOF
}
