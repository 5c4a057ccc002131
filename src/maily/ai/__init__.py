"""The AI service: gRPC contract and server, model providers, the agent mesh, and the
model-free intelligence (send-time optimisation, scores, checks)."""
