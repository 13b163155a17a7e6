"""Adapters between mlrun and the platforms that call run code: nuclio and Flask (HTTP events)."""
