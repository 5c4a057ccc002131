variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving S3 access logs; empty turns access logging off."
  type        = string
  default     = ""
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object's old version is kept."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags put on every resource."
  type        = map(string)
  default     = {}
}
