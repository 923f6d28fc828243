"""Once a day, a version of every plan that changed since its last version.

Several server nodes on one PostgreSQL may run this at once: each claims the plan's day
through the unique (plan_id, kind, day) constraint, so exactly one of them stores it and the
others skip (AlreadyExists).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from crdt.schema import VERSIONED_KINDS
from server.core.background import Periodic
from server.core.clock import today_oslo
from storage.errors import AlreadyExists
from storage.repositories.versions import VersionRepo, ZoneCopy

log = logging.getLogger("samplan.versions")

# Not in the middle of start-up: a minute (at most) later is soon enough for a day.
FIRST_CHECK_SECONDS = 60.0


class DailyVersions:
    def __init__(
        self,
        repo: VersionRepo,
        copies: Callable[[str], Awaitable[list[ZoneCopy]]],
        interval: float,
    ) -> None:
        self.repo = repo
        self.copies = copies
        self.stored = 0
        self._loop = Periodic(
            "daily-versions",
            interval,
            self.run_once,
            first_delay=min(interval, FIRST_CHECK_SECONDS),
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def run_once(self) -> int:
        """Store today's version of each changed plan; returns how many this call stored."""
        day = today_oslo()
        stored = 0
        for plan_id in await self.repo.plans_changed_since_last_version(VERSIONED_KINDS):
            try:
                await self.repo.create_version(
                    plan_id, "daily", await self.copies(plan_id), day=day
                )
            except AlreadyExists:
                continue  # another node (or an earlier round today) has it
            stored += 1
        if stored:
            log.info("daily versions stored=%d day=%s", stored, day.isoformat())
        self.stored += stored
        return stored
