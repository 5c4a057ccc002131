variable "name" {
  description = "Name of the environment (VPC, cluster, database, ...)."
  type        = string
  default     = "maily-example"
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "availability_zones" {
  description = "Zones to spread over."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

variable "vpc_cidr_block" {
  description = "The VPC's address range."
  type        = string
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone."
  type        = bool
  default     = false
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.31"
}

variable "cluster_public_access_cidrs" {
  description = "Ranges that may reach the cluster's API endpoint; empty keeps it private."
  type        = list(string)
  default     = []
}

variable "kubernetes_namespace" {
  description = "Namespace the Helm release goes to."
  type        = string
  default     = "maily"
}

variable "database_instance_class" {
  description = "RDS instance size."
  type        = string
  default     = "db.r6g.large"
}

variable "redis_auth_token" {
  description = "ElastiCache AUTH token (from your secret store, e.g. TF_VAR_redis_auth_token)."
  type        = string
  sensitive   = true
}

variable "bucket_name" {
  description = "Globally unique bucket name for Maily's objects."
  type        = string
}

variable "access_log_bucket" {
  description = "Existing bucket for S3 access logs; empty turns them off."
  type        = string
  default     = ""
}

variable "sending_domains" {
  description = "Domains Maily sends campaign mail from through SES."
  type        = list(string)
  default     = []
}

variable "public_host" {
  description = "Host name of the API and tracking links (Helm: ingress.host)."
  type        = string
  default     = "maily.example.com"
}
