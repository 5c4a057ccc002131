"""Every tenant-owned table can be distributed by workspace."""

from __future__ import annotations

from sqlalchemy import UniqueConstraint

from maily.models import Base


def test_workspace_id_leads_every_tenant_key() -> None:
    tenant_tables = [t for t in Base.metadata.sorted_tables if "workspace_id" in t.c]
    assert {t.name for t in tenant_tables} >= {"memberships", "api_keys", "invitations"}
    for table in tenant_tables:
        primary = [c.name for c in table.primary_key.columns]
        assert primary[0] == "workspace_id", f"{table.name}: primary key {primary}"
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint):
                columns = [c.name for c in constraint.columns]
                assert columns[0] == "workspace_id", f"{table.name}: unique {columns}"
