"""The HTTP layer: one pooled session per Connector, retries, auth pinning, SSE."""
