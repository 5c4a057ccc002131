output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "The VPC's address range."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Subnets for nodes and data stores."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Subnets for internet-facing load balancers."
  value       = aws_subnet.public[*].id
}

output "logs_kms_key_arn" {
  description = "KMS key for CloudWatch log groups (flow logs, EKS control plane)."
  value       = aws_kms_key.logs.arn
}
