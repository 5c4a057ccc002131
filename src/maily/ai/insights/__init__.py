"""The model-free insights: send-time optimisation, engagement scores, A/B significance."""
