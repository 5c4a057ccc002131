"""Contact exports of a list or segment to CSV or JSON Lines, as a background job."""
