"""A plan's own pages: Mine planer, the plan page, consent, close/reopen/delete, the access log."""
