"""Delivery: the send pipeline, transports, DKIM, message headers, sending domains."""
