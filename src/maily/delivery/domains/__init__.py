"""Sending identity: a workspace's domains (DKIM keys, DNS records, checks) and senders."""
