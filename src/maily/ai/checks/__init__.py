"""Deterministic checks of campaign content: compliance rules and SpamAssassin."""
