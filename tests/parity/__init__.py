"""The parity tier: pyrunc side by side with runc (see README.md)."""
