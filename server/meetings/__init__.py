"""Meetings: scheduling, the live minutes page, publishing and approval, action items, .ics."""
