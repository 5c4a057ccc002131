"""The delivery engine's tests share the campaigns tests' committed world."""

from tests.campaigns.conftest import world

__all__ = ["world"]
