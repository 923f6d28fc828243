"""Scheduled reminders: a measure's end date or an evaluation's next review 7 days away, a
plan's revision date reached, and whatever else is handed in (`also`: a meeting tomorrow).

Read from zone summaries (stored at compaction, read live for rooms this node holds), never
by loading documents. Run at start-up and every `reminder_interval_seconds`. Several nodes
may run it at the same moment: each reminder's dedupe key (kind, plan, item, date, member)
makes every insert after the first a no-op, so a reminder reaches a member once per cluster
(DESIGN.md §6).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from typing import Any

from server.core.background import Periodic
from server.core.clock import today_oslo
from server.core.summaries import Summaries
from server.notify.notifier import Notifier
from storage.repositories.plans import PlanRepo

log = logging.getLogger("samplan.reminders")

DEADLINE_DAYS = 7


class Reminders:
    def __init__(
        self,
        plans: PlanRepo,
        summaries: Summaries,
        notifier: Notifier,
        interval: float,
        also: Sequence[Callable[[date], Awaitable[int]]] = (),
    ) -> None:
        self.plans = plans
        self.also = also
        self.summaries = summaries
        self.notifier = notifier
        self._loop = Periodic("reminders", interval, lambda: self.run(today_oslo()), first_delay=0)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    @property
    def scheduled_rounds(self) -> int:
        """Rounds the schedule has finished (the first runs at start-up)."""
        return self._loop.rounds

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
                                key,
                                str(measure["id"]),
                                deadline,
                                measure["responsible"],
                            )
                        )
                for review in summary.get("upcomingReviews", ()):
                    if review.get("date") == deadline:
                        created += len(
                            await self.notifier.review_soon(
                                plan_id,
                                key,
                                str(review["id"]),
                                deadline,
                                review.get("responsible") or (),
                            )
                        )
            elif kind == "content":
                revision = summary.get("nextRevision")
                if isinstance(revision, str) and revision <= today.isoformat():
                    created += len(await self.notifier.revision_due(plan_id, revision))
        for job in self.also:
            created += await job(today)
        log.info("reminders for %s: %d new", today.isoformat(), created)
        return created

    async def _summaries(self) -> list[tuple[str, int, str, str, dict[str, Any]]]:
        stored = await self.plans.zone_summaries_of_kinds(("area", "content"))
        return [(p, z, k, key, await self.summaries.fresh(z, k, s)) for p, z, k, key, s in stored]
