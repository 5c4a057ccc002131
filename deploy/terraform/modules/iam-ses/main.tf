# The IAM role Maily's pods assume (IAM roles for service accounts): send through SES
# from the workspace domains verified here, and use the object storage bucket. Also
# the SES identities of the sending domains and a configuration set.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  tags        = merge(var.tags, { "maily:module" = "iam-ses" })
  issuer_host = replace(var.oidc_issuer, "https://", "")
  identity_arns = [
    for domain in var.sending_domains :
    "arn:${data.aws_partition.current.partition}:ses:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:identity/${domain}"
  ]
}

resource "aws_sesv2_email_identity" "domain" {
  for_each       = toset(var.sending_domains)
  email_identity = each.value
  # Maily signs with its own DKIM keys as well; Easy DKIM adds SES's signature.
  dkim_signing_attributes {
    next_signing_key_length = "RSA_2048_BIT"
  }
  configuration_set_name = aws_sesv2_configuration_set.this.configuration_set_name
  tags                   = local.tags
}

resource "aws_sesv2_configuration_set" "this" {
  configuration_set_name = var.name
  delivery_options {
    tls_policy = "REQUIRE"
  }
  reputation_options {
    reputation_metrics_enabled = true
  }
  suppression_options {
    suppressed_reasons = ["BOUNCE", "COMPLAINT"]
  }
  tags = local.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${var.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "maily" {
  name_prefix        = "${var.name}-app-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "send" {
  statement {
    sid     = "SendFromVerifiedDomains"
    actions = ["ses:SendEmail", "ses:SendRawEmail"]
    resources = concat(local.identity_arns, [
      "arn:${data.aws_partition.current.partition}:ses:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:configuration-set/${var.name}",
    ])
  }
}

resource "aws_iam_role_policy" "send" {
  name   = "ses-send"
  role   = aws_iam_role.maily.id
  policy = data.aws_iam_policy_document.send.json
}

resource "aws_iam_role_policy" "storage" {
  name   = "object-storage"
  role   = aws_iam_role.maily.id
  policy = var.storage_policy_json
}
