"""Tracking: signed open and click tokens now; the public endpoints that answer them later."""
