"""The "effective plan" indicators of Mine planer: next revision, overdue measures, last
evaluation, folded from the plan's zone summaries (server/summaries.py)."""

from __future__ import annotations

from datetime import date
from typing import Any


def norwegian_date(iso: str | None) -> str | None:
    """'2026-01-15' -> '15.01.2026'; anything unparsable is left out rather than shown wrong."""
    if not iso:
        return None
    try:
        return date.fromisoformat(iso).strftime("%d.%m.%Y")
    except ValueError:
        return None


def indicators(zones: list[tuple[str, dict[str, Any]]], today: date) -> dict[str, Any]:
    """Fold one plan's zone summaries into what the overview shows."""
    next_revision: str | None = None
    last_evaluation: str | None = None
    overdue = 0
    for kind, summary in zones:
        if kind == "content":
            next_revision = summary.get("nextRevision") or next_revision
        elif kind == "area":
            overdue += sum(
                1 for end in summary.get("openMeasureEnds", ()) if end < today.isoformat()
            )
            evaluated = summary.get("lastEvaluation")
            if evaluated and (last_evaluation is None or evaluated > last_evaluation):
                last_evaluation = evaluated
    return {
        "next_revision": norwegian_date(next_revision),
        "revision_overdue": bool(next_revision and next_revision < today.isoformat()),
        "overdue_measures": overdue,
        "last_evaluation": norwegian_date(last_evaluation),
    }
