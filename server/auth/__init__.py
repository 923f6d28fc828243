"""Signing in and out: the log-in pages, OpenID Connect, throttling."""
