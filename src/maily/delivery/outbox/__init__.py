"""The outbox: mail kept instead of delivered, and the API to look at it."""
