"""Signup forms: hosted page, embeddable snippet, double opt-in confirmation."""
