"""HTTP routes (filled in as the feature lands)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
