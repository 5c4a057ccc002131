"""Maily: self-hosted, AI-assisted email marketing."""

__version__ = "0.1.0"
