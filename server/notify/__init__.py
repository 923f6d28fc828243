"""Telling people: notifications, e-mail, reminders, and noticing what changed in a zone."""
