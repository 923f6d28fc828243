"""Per-zone summaries (crdt/summary.py: dates and counts, never text), for figures shown
outside a zone: Mine planer's indicators, reminders, the KE overview. Stored a moment after
a live room's summary changes, on every node holding it, and at compaction
(server/core/summary_writer.py); rooms in memory here are read live, so what someone typed a
second ago already counts. A member is shown figures only from the zones they may open
(`for_user`); reminders are narrowed the same way by the notifier (server/notify/notifier.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from crdt.registry import RoomRegistry
from crdt.room import Room
from crdt.schema import zone_name
from crdt.summary import zone_summary
from server.core.access import effective_access
from server.core.summary_writer import DEFAULT_DELAY_SECONDS, OneWriter, SummaryWriter
from storage.repositories.consents import MemberAccess
from storage.repositories.plans import PlanRepo


class Summaries:
    def __init__(
        self,
        plans: PlanRepo,
        registry: RoomRegistry,
        delay: float = DEFAULT_DELAY_SECONDS,
        one_writer: OneWriter | None = None,
    ) -> None:
        self.plans = plans
        self.registry = registry
        self.writer = SummaryWriter(plans, delay, one_writer)

    def refresh(self, room: Room) -> None:
        """A subscriber of the registry's `compacted` hook: store what the document says now."""
        self.writer.compacted(room)

    def changed(self, room: Room) -> None:
        """A subscriber of the registry's `committed` hook (and the cluster's `applied`)."""
        self.writer.changed(room)

    async def write_pending(self) -> None:
        """Store the summaries of the rooms changed here and not stored yet: readers of the
        stored summaries alone (the KE overview's SQL fold) ask first."""
        await self.writer.write_pending()

    async def for_user(
        self, user_id: int, access: Mapping[str, MemberAccess], today: date
    ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """Per plan the user is in: (kind, summary) of each zone this member may open, and of
        no other (`zones_for_user` without the zone ids)."""
        zones = await self.zones_for_user(user_id, access, today)
        return {plan: [(k, s) for _, k, s in found] for plan, found in zones.items()}

    async def zones_for_user(
        self, user_id: int, access: Mapping[str, MemberAccess], today: date
    ) -> dict[str, list[tuple[int, str, dict[str, Any]]]]:
        """Per plan the user is in: (zone id, kind, summary) of each zone this member may
        open, and of no other. `access` is the member's role and consent per plan
        (`ConsentRepo.access_by_plan`); a plan missing from it yields nothing. The one place
        where consent bounds the figures shown outside a zone: a deltaker whose consent covers
        two areas gets the overdue count of those two, and no revision date unless it covers
        `content` (server.core.access.effective_access, the rule of sockets and pages)."""
        stored = await self.plans.zone_summaries_for_user(user_id)
        result: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        for plan_id, zones in stored.items():
            member = access.get(plan_id)
            if member is None:
                continue
            result[plan_id] = [
                (zid, kind, await self.fresh(zid, kind, summary))
                for zid, kind, key, summary in zones
                if effective_access(member.role, kind, zone_name(kind, key), member.consent, today)
                is not None
            ]
        return result

    async def fresh(self, zone_id: int, kind: str, stored: dict[str, Any]) -> dict[str, Any]:
        """A zone's summary: from its live room when one is loaded (what someone typed a
        second ago already counts), else the stored one (a second behind the node holding
        the room at most, server/core/summary_writer.py)."""
        live = await self.registry.read_live(zone_id, lambda doc: zone_summary(doc, kind))
        return stored if live is None else live

    async def flush(self) -> None:
        await self.writer.flush()
