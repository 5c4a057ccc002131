output "primary_endpoint" {
  description = "Host name of the primary (Helm: redis.host, with redis.tls true)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "port" {
  description = "Port (Helm: redis.port)."
  value       = aws_elasticache_replication_group.this.port
}
