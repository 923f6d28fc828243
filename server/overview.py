"""The "effective plan" indicators of Mine planer: next revision, overdue measures, last
evaluation. Stored zone summaries, refreshed whenever a room is compacted; rooms in memory
are read live so what someone typed a minute ago already counts."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any

from crdt.registry import RoomRegistry
from crdt.room import Room
from crdt.summary import zone_summary
from storage.repositories.plans import PlanRepo

log = logging.getLogger("samplan.overview")


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


class Summaries:
    def __init__(self, plans: PlanRepo, registry: RoomRegistry) -> None:
        self.plans = plans
        self.registry = registry
        self._saving: set[asyncio.Task[None]] = set()
        registry.on_compacted = self.refresh

    def refresh(self, room: Room) -> None:
        """Called after a compaction: store what the document says now."""
        if room.kind not in ("content", "area"):
            return
        summary = zone_summary(room.doc, room.kind)
        task = asyncio.get_running_loop().create_task(self._save(room.zone_id, summary))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def _save(self, zone_id: int, summary: dict[str, Any]) -> None:
        try:
            await self.plans.save_zone_summary(zone_id, summary)
        except Exception as exc:
            log.error(
                "zone %s: saving its summary failed: %s", zone_id, type(exc).__name__, exc_info=exc
            )

    async def for_user(self, user_id: int) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        stored = await self.plans.zone_summaries_for_user(user_id)
        rooms = self.registry.rooms
        return {
            plan_id: [
                (kind, zone_summary(rooms[zid].doc, kind) if zid in rooms else summary)
                for zid, kind, summary in zones
            ]
            for plan_id, zones in stored.items()
        }

    async def flush(self) -> None:
        if self._saving:
            await asyncio.gather(*self._saving, return_exceptions=True)
