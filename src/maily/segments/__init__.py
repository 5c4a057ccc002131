"""Segments: a JSON rule language compiled to one parameterised SQL query."""
