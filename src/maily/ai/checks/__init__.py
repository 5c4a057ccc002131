"""Checks over email content: deterministic compliance, link and image rules
(`compliance`) and, where spamd answers, SpamAssassin's score (`spam`)."""
