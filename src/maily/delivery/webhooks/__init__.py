"""Provider webhooks for bounces, complaints and deliveries: signature checks and payloads."""
