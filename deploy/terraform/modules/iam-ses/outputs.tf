output "role_arn" {
  description = "Role for Maily's service account (Helm: serviceAccount.annotations eks.amazonaws.com/role-arn)."
  value       = aws_iam_role.maily.arn
}

output "configuration_set" {
  description = "SES configuration set (Maily: MAILY_SES__CONFIGURATION_SET)."
  value       = aws_sesv2_configuration_set.this.configuration_set_name
}

output "dkim_tokens" {
  description = "Per domain, the Easy DKIM tokens to publish as CNAMEs."
  value       = { for domain, identity in aws_sesv2_email_identity.domain : domain => identity.dkim_signing_attributes[0].tokens }
}
