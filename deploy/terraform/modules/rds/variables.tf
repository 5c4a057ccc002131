variable "name" {
  description = "Prefix of the instance and what belongs to it."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the instance."
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
  description = "PostgreSQL version."
  type        = string
  default     = "16.4"
}

variable "instance_class" {
  description = "Instance size."
  type        = string
  default     = "db.r6g.large"
}

variable "database_name" {
  description = "Database Maily uses."
  type        = string
  default     = "maily"
}

variable "username" {
  description = "Master user (its password lives in Secrets Manager)."
  type        = string
  default     = "maily"
}

variable "allocated_storage_gb" {
  description = "Initial storage."
  type        = number
  default     = 100
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling."
  type        = number
  default     = 1000
}

variable "multi_az" {
  description = "A standby in a second zone."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery)."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse to delete the instance."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags put on every resource."
  type        = map(string)
  default     = {}
}
