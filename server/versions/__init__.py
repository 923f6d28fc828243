"""Plan versions: history, diff and restore pages, and the daily version."""
