"""Request and response models for templates, their versions, previews and validation."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from maily.kit.schemas import ORMSchema, Schema
from maily.templates.compiler import MAX_SOURCE_CHARS, TemplateKind

__all__ = [
    "PreviewRequest",
    "RenderedOut",
    "TemplateCreate",
    "TemplateDetail",
    "TemplateKind",
    "TemplateOut",
    "TemplateRole",
    "TemplateUpdate",
    "ValidateRequest",
    "VersionOut",
    "VersionSummary",
]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Source = Annotated[str, Field(max_length=MAX_SOURCE_CHARS)]
Line = Annotated[str, Field(max_length=2000)]


class TemplateRole(StrEnum):
    template = "template"  # a message a campaign sends
    layout = "layout"  # wraps templates: its {% block content %} holds them
    block = "block"  # a snippet templates include by name: {% include "footer" %}


class _Content(Schema):
    source: Source = Field(description="MJML or HTML with Jinja2 merge tags")
    subject: Line = Field("", description="Subject line; may use merge tags")
    preheader: Line = Field("", description="Preview text shown after the subject")
    layout_id: uuid.UUID | None = Field(None, description="A layout of this workspace")


class TemplateCreate(_Content):
    name: Name
    kind: TemplateKind = TemplateKind.mjml
    role: TemplateRole = TemplateRole.template


class TemplateUpdate(Schema):
    """Changing source, subject, preheader or layout saves a new version."""

    name: Name | None = None
    source: Source | None = None
    subject: Line | None = None
    preheader: Line | None = None
    layout_id: uuid.UUID | None = None
    clear_layout: bool = Field(False, description="Stop using a layout")


class ValidateRequest(_Content):
    kind: TemplateKind = TemplateKind.mjml
    role: TemplateRole = TemplateRole.template


class PreviewRequest(Schema):
    contact_id: uuid.UUID | None = Field(
        None, description="A contact of this workspace; sample data when left out"
    )
    subject: Line | None = Field(None, description="Preview with this subject instead")
    version: int | None = Field(None, ge=1, description="A saved version; the newest if left out")


class TemplateOut(ORMSchema):
    id: uuid.UUID
    name: str
    kind: TemplateKind
    role: TemplateRole
    layout_id: uuid.UUID | None
    current_version: int
    created_at: datetime
    updated_at: datetime


class VersionSummary(ORMSchema):
    id: uuid.UUID
    version: int
    subject: str
    layout_id: uuid.UUID | None
    created_by: uuid.UUID | None
    created_at: datetime


class VersionOut(VersionSummary):
    template_id: uuid.UUID
    source: str
    preheader: str
    links: list[str]


class TemplateDetail(TemplateOut):
    """A template with the content of its newest version."""

    source: str
    subject: str
    preheader: str
    links: list[str] = Field(description="Tracked links, in link-table order")


class RenderedOut(Schema):
    subject: str
    html: str
    text: str
    links: list[str] = Field(description="Tracked links, in link-table order")
