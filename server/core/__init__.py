"""The rules and shared services every capability stands on: roles and consent, the
clock, the access log writer, background tasks, zone summaries and copies, tokens, passwords."""
