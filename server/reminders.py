"""Scheduled reminders: a measure's end date 7 days away, a plan's revision date reached.

Read from zone summaries (stored at compaction, read live for rooms this node holds), never
by loading documents. Run at start-up and every `reminder_interval_seconds`. Several nodes
may run it at the same moment: each reminder's dedupe key (kind, plan, item, date, member)
makes every insert after the first a no-op, so a reminder reaches a member once per cluster
(DESIGN.md §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, timedelta
from typing import Any

from crdt.registry import RoomRegistry
from crdt.summary import zone_summary
from server.clock import today_oslo
from server.notifier import Notifier
from storage.repositories.plans import PlanRepo

log = logging.getLogger("samplan.reminders")

DEADLINE_DAYS = 7


class Reminders:
    def __init__(
        self, plans: PlanRepo, registry: RoomRegistry, notifier: Notifier, interval: float
    ) -> None:
        self.plans = plans
        self.registry = registry
        self.notifier = notifier
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run(today_oslo())
            except Exception as exc:
                log.error("reminder run failed: %s", type(exc).__name__)
            await asyncio.sleep(self.interval)

    async def run(self, today: date) -> int:
        """One pass for `today` (Europe/Oslo); returns how many notifications it created."""
        deadline = (today + timedelta(days=DEADLINE_DAYS)).isoformat()
        created = 0
        for plan_id, _zone_id, kind, key, summary in await self._summaries():
            if kind == "area":
                for measure in summary.get("openMeasures", ()):
                    if measure.get("end") == deadline and measure.get("responsible"):
                        created += len(
                            await self.notifier.deadline_soon(
                                plan_id,
                                f"area/{key}",
                                str(measure["id"]),
                                deadline,
                                measure["responsible"],
                            )
                        )
            elif kind == "content":
                revision = summary.get("nextRevision")
                if isinstance(revision, str) and revision <= today.isoformat():
                    created += len(await self.notifier.revision_due(plan_id, revision))
        log.info("reminders for %s: %d new", today.isoformat(), created)
        return created

    async def _summaries(self) -> list[tuple[str, int, str, str, dict[str, Any]]]:
        stored = await self.plans.zone_summaries_of_kinds(("area", "content"))
        rooms = self.registry.rooms
        return [
            (p, z, k, key, zone_summary(rooms[z].doc, k) if z in rooms else s)
            for p, z, k, key, s in stored
        ]
