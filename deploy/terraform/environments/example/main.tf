# An example Maily environment on AWS: network, EKS, RDS PostgreSQL, ElastiCache Redis,
# an S3 bucket with KMS and the IAM role for SES sending. Its `helm_values` output is
# the values file for deploy/helm/maily:
#
#   terraform output -raw helm_values > values.aws.yaml
#   helm upgrade --install maily deploy/helm/maily -n maily -f values.aws.yaml -f values.secrets.yaml

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0, < 5.0"
    }
  }
  # Keep state remote and locked in a real environment, e.g.:
  # backend "s3" {
  #   bucket       = "example-terraform-state"
  #   key          = "maily/example.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      "maily:environment" = var.name
      "managed-by"        = "terraform"
    }
  }
}

module "network" {
  source             = "../../modules/network"
  name               = var.name
  cluster_name       = var.name
  cidr_block         = var.vpc_cidr_block
  availability_zones = var.availability_zones
  single_nat_gateway = var.single_nat_gateway
}

module "eks" {
  source              = "../../modules/eks"
  name                = var.name
  kubernetes_version  = var.kubernetes_version
  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.private_subnet_ids
  public_access_cidrs = var.cluster_public_access_cidrs
  log_kms_key_arn     = module.network.logs_kms_key_arn
}

module "rds" {
  source                    = "../../modules/rds"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  instance_class            = var.database_instance_class
}

module "elasticache" {
  source                    = "../../modules/elasticache"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  auth_token                = var.redis_auth_token
}

module "s3" {
  source            = "../../modules/s3"
  bucket_name       = var.bucket_name
  access_log_bucket = var.access_log_bucket
}

module "iam_ses" {
  source              = "../../modules/iam-ses"
  name                = var.name
  oidc_provider_arn   = module.eks.oidc_provider_arn
  oidc_issuer         = module.eks.oidc_issuer
  namespace           = var.kubernetes_namespace
  service_account     = "maily"
  sending_domains     = var.sending_domains
  storage_policy_json = module.s3.access_policy_json
}
