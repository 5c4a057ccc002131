"""A campaign's content as the composer sees it (maily.delivery.composer.CampaignContent)."""

from __future__ import annotations

import uuid

from maily.delivery.composer import CampaignContent, VariantContent
from maily.models import Campaign


def variants_of(campaign: Campaign) -> list[VariantContent]:
    if not campaign.ab_test:
        return []
    return [
        VariantContent(
            name=v["name"],
            subject=v.get("subject"),
            template_id=uuid.UUID(v["template_id"]) if v.get("template_id") else None,
        )
        for v in campaign.ab_test["variants"]
    ]


def content_of(campaign: Campaign, postal_address: str) -> CampaignContent:
    return CampaignContent(
        workspace_id=campaign.workspace_id,
        campaign_id=campaign.id,
        name=campaign.name,
        subject=campaign.subject,
        preheader=campaign.preheader,
        template_id=campaign.template_id,
        sender_id=campaign.sender_id,
        postal_address=postal_address,
        variants=variants_of(campaign),
        updated_at=campaign.updated_at,
    )
