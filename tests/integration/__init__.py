"""Integration tests against real clients (tests/integration/clients)."""
