"""HTTP routes for contacts, custom fields, lists, memberships and suppressions."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
