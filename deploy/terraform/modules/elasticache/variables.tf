variable "name" {
  description = "Replication group id."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two zones."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect (the EKS cluster's)."
  type        = list(string)
}

variable "engine_version" {
  description = "Redis version (Maily needs 6.2 or newer for streams' XAUTOCLAIM)."
  type        = string
  default     = "7.1"
}

variable "parameter_group_family" {
  description = "Parameter group family matching engine_version."
  type        = string
  default     = "redis7"
}

variable "node_type" {
  description = "Node size."
  type        = string
  default     = "cache.r7g.large"
}

variable "replicas" {
  description = "Read replicas besides the primary (at least one: failover is always on)."
  type        = number
  default     = 1
  validation {
    condition     = var.replicas >= 1 && var.replicas <= 5
    error_message = "Give one to five replicas."
  }
}

variable "auth_token" {
  description = "Redis AUTH token (16-128 characters); keep it in your secret store and pass it in."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.auth_token) >= 16 && length(var.auth_token) <= 128
    error_message = "The AUTH token must be 16 to 128 characters."
  }
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags put on every resource."
  type        = map(string)
  default     = {}
}
