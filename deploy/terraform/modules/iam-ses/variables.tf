variable "name" {
  description = "Prefix of the role and name of the SES configuration set."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's OIDC provider (eks module output)."
  type        = string
}

variable "oidc_issuer" {
  description = "The EKS cluster's OIDC issuer URL (eks module output)."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace Maily is installed in."
  type        = string
  default     = "maily"
}

variable "service_account" {
  description = "Service account of Maily's pods (the Helm chart's serviceAccount name)."
  type        = string
  default     = "maily"
}

variable "sending_domains" {
  description = "Domains Maily sends from through SES; each becomes an SES identity."
  type        = list(string)
  default     = []
}

variable "storage_policy_json" {
  description = "IAM policy for the object storage bucket (s3 module output)."
  type        = string
}

variable "tags" {
  description = "Tags put on every resource."
  type        = map(string)
  default     = {}
}
