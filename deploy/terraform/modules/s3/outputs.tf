output "bucket" {
  description = "Bucket name (Helm: s3.bucket)."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_region" {
  description = "Region of the bucket (Helm: s3.region)."
  value       = aws_s3_bucket.this.region
}

output "kms_key_arn" {
  description = "Key the objects are encrypted with."
  value       = aws_kms_key.this.arn
}

output "access_policy_json" {
  description = "IAM policy document granting Maily's pods the bucket."
  value       = data.aws_iam_policy_document.access.json
}
