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


def norwegian_date(iso: str | None) -> str | None:
    """'2026-01-15' -> '15.01.2026'; anything unparsable is left out rather than shown wrong."""
    if not iso:
        return None
    try:
        return date.fromisoformat(iso).strftime("%d.%m.%Y")
    except ValueError:
        return None
