"""Campaigns: content, audience, schedule, A/B tests and the state machine that sends them."""
