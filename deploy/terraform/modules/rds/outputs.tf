output "address" {
  description = "Host name of the instance (Helm: postgresql.host)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port (Helm: postgresql.port)."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "Database (Helm: postgresql.database)."
  value       = aws_db_instance.this.db_name
}

output "username" {
  description = "User (Helm: postgresql.user)."
  value       = aws_db_instance.this.username
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret with the password; sync it into the Kubernetes Secret of postgresql.passwordSecret."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}
