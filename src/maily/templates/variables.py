"""Merge variables: what a template can see, built from plain values, never ORM objects.

A template sees

    contact        email, first_name, last_name, full_name, every custom field by its
                   key (also under contact.fields), tags
    workspace      name, postal_address
    campaign       name, subject
    unsubscribe_url, preferences_url, view_online_url   passed in per message

Everything is a plain dict, string, number or list, so nothing a template reaches has
methods beyond the few the sandbox allows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "SAMPLE_CONTACT",
    "campaign_variables",
    "contact_variables",
    "merge_variables",
    "sample_contact",
    "workspace_variables",
]

_STANDARD = ("email", "first_name", "last_name", "full_name", "fields", "tags")

SAMPLE_CONTACT: dict[str, Any] = {
    "email": "jane.doe@example.com",
    "first_name": "Jane",
    "last_name": "Doe",
}

# A value to show for a custom field in previews, by field type.
_SAMPLE_VALUES: dict[str, Any] = {
    "text": "Sample text",
    "number": 42,
    "date": "2026-01-31",
    "boolean": True,
}


def contact_variables(
    email: str,
    first_name: str = "",
    last_name: str = "",
    fields: Mapping[str, Any] | None = None,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The `contact` mapping. Cheap enough to build per message."""
    values: dict[str, Any] = dict(fields or {})
    values["fields"] = dict(fields or {})
    values["email"] = email
    values["first_name"] = first_name
    values["last_name"] = last_name
    values["full_name"] = " ".join(part for part in (first_name, last_name) if part)
    values["tags"] = list(tags)
    return values


def sample_contact(field_types: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A made-up contact for previews, with a sample value for each custom field."""
    fields = {
        key: _SAMPLE_VALUES.get(type_, "Sample") for key, type_ in (field_types or {}).items()
    }
    return contact_variables(**SAMPLE_CONTACT, fields=fields, tags=["sample"])


def workspace_variables(name: str, postal_address: str) -> dict[str, Any]:
    return {"name": name, "postal_address": postal_address}


def campaign_variables(name: str = "", subject: str = "") -> dict[str, Any]:
    return {"name": name, "subject": subject}


def merge_variables(
    *,
    contact: Mapping[str, Any],
    workspace: Mapping[str, Any],
    campaign: Mapping[str, Any] | None = None,
    unsubscribe_url: str = "",
    preferences_url: str = "",
    view_online_url: str = "",
) -> dict[str, Any]:
    """Everything a message's template can use, in one mapping for render()."""
    return {
        "contact": contact,
        "workspace": workspace,
        "campaign": campaign or campaign_variables(),
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
        "view_online_url": view_online_url,
    }
