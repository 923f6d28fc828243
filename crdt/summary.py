"""The few facts "Mine planer" shows about a zone, read from its document.

Extracted when a room is compacted or unloaded (and read live for rooms in memory), stored
in SQL by the server, so an overview of hundreds of plans never loads a CRDT document.
Dates stay ISO strings; what counts as overdue is decided when the page is shown.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Array, Doc, Map

from crdt.schema import AREA, CONTENT, EVALUATIONS, MEASURES, META, is_iso_date

DONE_STATUSES = frozenset({"fullfort", "avsluttet"})


def zone_summary(doc: Doc[Any], kind: str) -> dict[str, Any]:
    if kind == CONTENT:
        meta = doc.get(META, type=Map)
        return {
            "nextRevision": _date(meta.get("nextRevision")),
            "planPeriodEnd": _date(meta.get("planPeriodEnd")),
        }
    if kind == AREA:
        measures = doc.get(MEASURES, type=Array)
        evaluations = doc.get(EVALUATIONS, type=Array)
        open_ends = sorted(
            end
            for item in measures
            if isinstance(item, Map)
            and _text(item.get("status")) not in DONE_STATUSES
            and (end := _date(item.get("end")))
        )
        dates = [
            d for item in evaluations if isinstance(item, Map) and (d := _date(item.get("date")))
        ]
        # Open measures with an end date and their responsible members: the deadline
        # reminder reads these instead of loading every area document.
        open_measures = sorted(
            (
                {"id": item_id, "end": end, "responsible": _people(item.get("responsible"))}
                for item in measures
                if isinstance(item, Map)
                and _text(item.get("status")) not in DONE_STATUSES
                and (end := _date(item.get("end")))
                and (item_id := _text(item.get("id")))
            ),
            key=lambda m: (m["end"], m["id"]),
        )
        # Evaluations with a next review date: the review reminder reads these.
        upcoming_reviews = sorted(
            (
                {"id": item_id, "date": review, "responsible": _people(item.get("responsible"))}
                for item in evaluations
                if isinstance(item, Map)
                and (review := _date(item.get("nextReview")))
                and (item_id := _text(item.get("id")))
            ),
            key=lambda r: (r["date"], r["id"]),
        )
        return {
            "openMeasureEnds": open_ends,
            "openMeasures": open_measures,
            "upcomingReviews": upcoming_reviews,
            "lastEvaluation": max(dates) if dates else None,
        }
    return {}


def _people(value: object) -> list[str]:
    return [str(p) for p in value if isinstance(p, str) and p] if isinstance(value, Array) else []


def _date(value: object) -> str | None:
    """Only a real YYYY-MM-DD: a summary is compared and formatted as a date by its readers."""
    return value if isinstance(value, str) and is_iso_date(value) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
