"""The audience: contacts, custom fields, tags, lists, consent, suppression, import/export."""
