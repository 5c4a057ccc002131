"""Provider webhooks answer without credentials on purpose: each request proves itself
by its provider's signature (see test_webhooks.py)."""

PUBLIC_ROUTES = {
    ("POST", "/api/v1/webhooks/inbound/ses"),
    ("POST", "/api/v1/webhooks/inbound/postmark"),
    ("POST", "/api/v1/webhooks/inbound/sendgrid"),
    ("POST", "/api/v1/webhooks/inbound/mailgun"),
}
