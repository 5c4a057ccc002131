"""The audit log: who did what to which record, written by every domain, read per workspace."""
