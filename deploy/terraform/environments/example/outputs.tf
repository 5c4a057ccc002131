output "cluster_name" {
  description = "aws eks update-kubeconfig --name <this>"
  value       = module.eks.cluster_name
}

output "database_secret_arn" {
  description = "Secrets Manager secret with the database password; sync it to the Kubernetes Secret maily-db (key: password)."
  value       = module.rds.master_user_secret_arn
}

output "ses_dkim_tokens" {
  description = "Easy DKIM CNAMEs to publish per sending domain."
  value       = module.iam_ses.dkim_tokens
}

# Values for deploy/helm/maily. Secrets stay out: the chart reads them from the
# Kubernetes Secrets named here (maily-secrets, maily-db, maily-redis).
output "helm_values" {
  description = "Values file for the Helm chart, from this environment."
  value = yamlencode({
    config = {
      ENVIRONMENT             = "production"
      TRANSPORT               = "ses"
      SES__REGION             = var.region
      SES__CONFIGURATION_SET  = module.iam_ses.configuration_set
      OBSERVABILITY__LOG_JSON = "true"
    }
    secrets = { existingSecret = "maily-secrets" }
    postgresql = {
      host           = module.rds.address
      port           = module.rds.port
      database       = module.rds.database_name
      user           = module.rds.username
      query          = "ssl=require"
      passwordSecret = { name = "maily-db", key = "password" }
    }
    redis = {
      host           = module.elasticache.primary_endpoint
      port           = module.elasticache.port
      tls            = true
      passwordSecret = { name = "maily-redis", key = "password" }
    }
    s3 = {
      bucket = module.s3.bucket
      region = module.s3.bucket_region
    }
    serviceAccount = {
      create      = true
      name        = "maily"
      annotations = { "eks.amazonaws.com/role-arn" = module.iam_ses.role_arn }
    }
    ingress = {
      host = var.public_host
    }
  })
}
