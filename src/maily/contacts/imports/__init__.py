"""Contact imports: streamed upload, column mapping, COPY into staging, one merge."""
