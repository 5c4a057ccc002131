variable "name" {
  description = "Name of the VPC and prefix of what it holds."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster whose load balancers may use these subnets."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address range; split into /20s (public from 0, private from 8)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Zones to spread subnets over (at least two: RDS and ElastiCache need them)."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 8
    error_message = "Give between two and eight availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper) instead of one per zone (survives a zone)."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "How long VPC flow logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags put on every resource."
  type        = map(string)
  default     = {}
}
