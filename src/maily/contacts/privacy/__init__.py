"""GDPR: a contact's data as JSON, and erasure that keeps only a hashed suppression."""
