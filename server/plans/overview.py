"""The "effective plan" indicators of Mine planer: next revision, overdue measures, last
evaluation, folded from the plan's zone summaries (server/core/summaries.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from server.core.clock import norwegian_date


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
