"""The client tier: the real container managers with pyrunc and runc."""
