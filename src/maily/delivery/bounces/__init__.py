"""Bounces and complaints: classification, DSN/ARF parsing, the suppression policy."""
