"""`samplan purge` run by the server itself: once per SAMPLAN_PURGE_INTERVAL_SECONDS, on the
cluster's leader only (scheduled work, DESIGN.md §6), or on the one node.

Off by default (0). Deleting health data on a timer is the municipality's decision, made by
turning this on (or by running `samplan purge` from cron: README "Retention"), after its
retention period is set. Run here, a deleted plan's open sockets are closed with 4404 and its
rooms dropped without compaction at once, on this node and, through the cluster's "plan gone"
message, on every other; the CLI's deletion reaches them only at their access watchers' next
poll. A plan reopened between the listing and its delete stays, and keeps its sockets.
"""

from __future__ import annotations

import logging
from datetime import datetime

from crdt.registry import RoomRegistry
from server.core.background import Periodic
from server.core.repositories import Repositories
from server.plans.lifecycle import purge
from server.sync.connections import ConnectionIndex, forget_plan
from storage.repositories.plans import PlanRows

log = logging.getLogger("samplan.lifecycle")

# Not in the middle of start-up: a minute (at most) later is soon enough for a retention period.
FIRST_RUN_SECONDS = 60.0


class PurgeSchedule:
    def __init__(
        self,
        repos: Repositories,
        registry: RoomRegistry,
        connections: ConnectionIndex,
        retention_days: int,
        interval: float,
    ) -> None:
        self.repos = repos
        self.registry = registry
        self.connections = connections
        self.retention_days = retention_days
        self.deleted = 0
        self._loop = Periodic(
            "purge", interval, self.run_once, first_delay=min(interval, FIRST_RUN_SECONDS)
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def run_once(self) -> int:
        """One purge; returns how many plans it deleted."""
        items = await purge(self.repos, self.retention_days, dry_run=False, delete=self._delete)
        deleted = sum(1 for item in items if item.rows is not None)
        if deleted:
            log.info("scheduled purge: %d plan(s) deleted", deleted)
        self.deleted += deleted
        return deleted

    async def _delete(self, plan_id: str, closed_before: datetime) -> PlanRows | None:
        zone_ids = [zone.id for zone in await self.repos.plans.list_zones(plan_id)]
        rows = await self.repos.plans.delete_plan(plan_id, closed_before=closed_before)
        if rows is not None:  # closed: nobody writes, so nothing is on its way to the log
            forget_plan(self.registry, self.connections, plan_id, zone_ids)
        return rows
