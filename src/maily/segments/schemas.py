"""Request and response models for saved segments and audience counts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from maily.kit.schemas import ORMSchema, Schema
from maily.segments.rules import SegmentRules

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class SegmentCreate(Schema):
    name: Name
    description: Description = ""
    rules: SegmentRules


class SegmentUpdate(Schema):
    name: Name | None = None
    description: Description | None = None
    rules: SegmentRules | None = None


class SegmentOut(ORMSchema):
    id: uuid.UUID
    name: str
    description: str
    rules: SegmentRules
    created_at: datetime
    updated_at: datetime


class RulesQuery(Schema):
    """An ad-hoc rule tree to count, e.g. while a segment is being edited."""

    rules: SegmentRules


class SegmentCount(Schema):
    count: int = Field(description="Contacts the rules match, whatever their status")
    sendable: int = Field(
        description="Of those, the ones Maily may mail: subscribed and not suppressed"
    )
