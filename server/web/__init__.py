"""The page kit: who is visiting a plan, page errors, templates, languages, security headers."""
