"""Samplan's time zone: dates and times people read are Oslo's, whatever the server's is.

Its own module because the role table, the pages, e-mail, export and the CLI all need it and
none of them owns it.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")


def today_oslo() -> date:
    """Today's date in Oslo: consent runs "until" a date there, meetings fall on days there."""
    return datetime.now(OSLO).date()
