"""The permission catalogue and what each role holds, kept as data.

An endpoint asks for one permission; a role or an API key either holds it or not.
Later domains add their permissions here so the catalogue stays in one place."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    editor = "editor"
    analyst = "analyst"
    viewer = "viewer"


# permission -> what it allows (shown in the API and the UI)
CATALOGUE: dict[str, str] = {
    "workspace:read": "See the workspace's settings",
    "workspace:write": "Change the workspace's settings",
    "workspace:delete": "Delete the workspace and everything in it",
    "members:read": "See the team",
    "members:write": "Invite people, change roles, remove members",
    "api_keys:read": "See API keys (never their secret)",
    "api_keys:write": "Create and revoke API keys",
    "contacts:read": "See contacts, lists and segments",
    "contacts:write": "Create, change, import and delete contacts, lists and segments",
    "contacts:export": "Export contacts",
    "templates:read": "See templates",
    "templates:write": "Create and change templates",
    "campaigns:read": "See campaigns",
    "campaigns:write": "Create and change campaigns",
    "campaigns:send": "Start, pause and cancel campaigns",
    "reports:read": "See reports and analytics",
    "sending:read": "See sending domains and transports",
    "sending:write": "Change sending domains, transports and webhooks",
    "ai:use": "Use the AI assistant",
    "ai:manage": "Configure AI model providers and see AI usage and cost",
}

_READ = {p for p in CATALOGUE if p.endswith(":read")}
_CONTENT = {
    "contacts:write",
    "contacts:export",
    "templates:write",
    "campaigns:write",
    "campaigns:send",
    "ai:use",
}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.owner: frozenset(CATALOGUE),
    Role.admin: frozenset(set(CATALOGUE) - {"workspace:delete"}),
    Role.editor: frozenset(_READ - {"api_keys:read", "sending:read"} | _CONTENT),
    Role.analyst: frozenset(
        {
            "workspace:read",
            "members:read",
            "contacts:read",
            "templates:read",
            "campaigns:read",
            "reports:read",
            "contacts:export",
        }
    ),
    Role.viewer: frozenset(
        {"workspace:read", "contacts:read", "templates:read", "campaigns:read", "reports:read"}
    ),
}

# Who may grant which role: nobody hands out more than they hold.
ROLE_RANK: dict[Role, int] = {
    Role.viewer: 1,
    Role.analyst: 2,
    Role.editor: 3,
    Role.admin: 4,
    Role.owner: 5,
}


def permissions_of(role: Role | str) -> frozenset[str]:
    return ROLE_PERMISSIONS[Role(role)]


def unknown_permissions(requested: list[str]) -> list[str]:
    return [p for p in requested if p not in CATALOGUE]
