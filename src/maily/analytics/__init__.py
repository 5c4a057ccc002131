"""Analytics: the event stream, its consumer, rollups and reports."""
