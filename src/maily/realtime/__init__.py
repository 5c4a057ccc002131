"""Live updates: a workspace-scoped WebSocket fed by Redis pub/sub."""
