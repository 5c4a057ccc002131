"""Operations tests use the campaign tests' committed world (contacts, a ledger)."""

from tests.campaigns.conftest import world

__all__ = ["world"]
