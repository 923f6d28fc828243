"""Noticing, after the fact, what changed in comments and area zones: new messages, comments
on items someone is responsible for, measures that gained a responsible member.

The sync hot path pays one call per durable commit that adds the room to a set; a debounced
task (`debounce_seconds`) then reads each dirty room's document once, compares its facts
(crdt/facts.py: ids and user ids, never text) with what it saw last time, and hands the
differences to the notifier. A room's first facts are taken when it is loaded, so what was
in the document already is never announced as new, except messages and comments created in
the last `RECENT` (a node that stopped between storing a message and noticing it makes up for
it when the room loads again; the dedupe keys make a repeat a no-op). Who named someone
responsible (not told of naming themselves) is the server's record of the change
(server/core/authors.py), never a stamp in the document. With several nodes each
one notices the same change; the notifications' dedupe keys make that one notification.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from datetime import UTC, datetime, timedelta

from crdt.facts import ZoneFacts, created_since, without, zone_facts
from crdt.registry import RoomRegistry
from crdt.room import Room
from crdt.schema import AREA, COMMENTS, utc_timestamp
from server.core.authors import last_field_changes, zone_changes
from server.notify.notifier import Notifier
from storage.repositories.plans import PlanRepo
from storage.repositories.updates import ZoneLog

log = logging.getLogger("samplan.zone_watch")

WATCHED = frozenset({COMMENTS, AREA})
RECENT = timedelta(minutes=10)


class ZoneWatch:
    def __init__(
        self,
        registry: RoomRegistry,
        plans: PlanRepo,
        notifier: Notifier,
        zone_log: ZoneLog,
        debounce_seconds: float = 1.0,
    ) -> None:
        self.registry = registry
        self.zone_log = zone_log
        self.plans = plans
        self.notifier = notifier
        self.debounce_seconds = debounce_seconds
        self._facts: weakref.WeakKeyDictionary[Room, ZoneFacts] = weakref.WeakKeyDictionary()
        self._zones: dict[int, tuple[str, str]] = {}  # zone id -> (plan id, zone key)
        self._dirty: set[Room] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.checks = 0
        self.check_seconds = 0.0

    def loaded(self, room: Room) -> None:
        if room.kind not in WATCHED:
            return
        facts = zone_facts(room.doc, room.kind)
        if room.kind == COMMENTS:
            recent = created_since(room.doc, utc_timestamp(datetime.now(UTC) - RECENT))
            if recent:
                facts = without(facts, recent)
                self.committed(room)  # look at them again as if just written
        self._facts[room] = facts

    def committed(self, room: Room) -> None:
        """The hot path: remember the room, start the timer once."""
        if room.kind not in WATCHED:
            return
        self._dirty.add(room)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.debounce_seconds, self._start_check)

    def _start_check(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.check())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def check(self) -> None:
        """Compare each dirty room with what was seen last time and notify the differences."""
        rooms, self._dirty = self._dirty, set()
        for room in rooms:
            started = time.perf_counter()
            before = self._facts.get(room)
            after = zone_facts(room.doc, room.kind, before)
            self._facts[room] = after
            self.checks += 1
            self.check_seconds += time.perf_counter() - started
            if before is None or before == after:
                continue
            try:
                await self._announce(room, before, after)
            except Exception as exc:
                log.error(
                    "zone %s: notifying failed: %s", room.zone_id, type(exc).__name__, exc_info=exc
                )

    async def flush(self) -> None:
        """Check now what is dirty and wait for running checks (tests, shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.check()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def close(self) -> None:
        await self.flush()
        log.info(
            "zone watch: %d checks, %.1f ms reading documents in all",
            self.checks,
            self.check_seconds * 1000,
        )

    async def _zone(self, zone_id: int) -> tuple[str, str] | None:
        known = self._zones.get(zone_id)
        if known is None:
            zone = await self.plans.get_zone_by_id(zone_id)
            if zone is None:
                return None
            known = (zone.plan_id, zone.key)
            self._zones[zone_id] = known
        return known

    async def _announce(self, room: Room, before: ZoneFacts, after: ZoneFacts) -> None:
        where = await self._zone(room.zone_id)
        if where is None:
            return
        plan_id, key = where
        for message_id, author in after.messages.items():
            if message_id not in before.messages:
                await self.notifier.message_posted(plan_id, message_id, author)
        new_comments = [
            (cid, anchor, author)
            for cid, (anchor, author) in after.comments.items()
            if cid not in before.comments and anchor
        ]
        if new_comments:
            responsible = await self._responsible(plan_id)
            for comment_id, anchor, author in new_comments:
                people = responsible.get(anchor or "")
                if people:
                    await self.notifier.comment_on_responsible(
                        plan_id, comment_id, anchor or "", people, author
                    )
        assigned = {
            item_id: gained
            for item_id, people in after.responsible.items()
            if (gained := people - before.responsible.get(item_id, frozenset()))
        }
        if assigned:
            # Who last wrote each item's `responsible`, as the server recorded it (the change
            # is durable before it is noticed, so its record is there).
            writers = last_field_changes(
                await zone_changes(self.zone_log, room.zone_id, room.kind), "responsible"
            )
            for item_id, gained in assigned.items():
                writer = writers.get(item_id)
                by = str(writer.user_id) if writer and writer.user_id is not None else None
                await self.notifier.measure_assigned(plan_id, key, item_id, gained, by)

    async def _responsible(self, plan_id: str) -> dict[str, frozenset[str]]:
        """Responsible members per measure/evaluation id across the plan's areas: live rooms
        are read once durable, the others from storage (`RoomRegistry.read`)."""
        found: dict[str, frozenset[str]] = {}
        for zone in await self.plans.list_zones(plan_id):
            if zone.kind != AREA:
                continue
            found.update(zone_facts(await self.registry.read(zone.id), AREA).responsible)
        return found
