"""Outbound webhooks: signed, retried, logged, and never sent to private addresses."""
