"""Room fan-out over Redis: each zone's committed updates and awareness on a channel per zone
(crdt/fanout.py's `RoomLink`, which the room registry calls).

A node listens on a zone's channel only while it holds the room, and listens before it
loads it. What a node sends is what its own peers did: updates only after its durable commit
(with the seq, so every node's compaction may fold it), awareness as its room accepted it.
What comes in is applied with a remote origin and relayed to local peers, never stored nor
sent on. One message per zone per event-loop turn carries all of that turn's records.

Presence of another node's clients is owned by that node (crdt.awareness.RemoteNode): it
leaves when the node says a client left, when the node says goodbye, and when the node is
not heard from for a few seconds (a SIGKILLed node says nothing). A room just loaded asks the
others who is there. A node that may have missed messages (a Redis reconnect, a
non-integrating update, a peer's lost publish) reads the zone from the store again: a
catch-up, bounded like a commit (crdt/bounded.py). One that fails or times out marks the room
behind (never handed to a joiner or a reader as the zone's state) and is tried again, later
and later, until one succeeds or the room goes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from redis.exceptions import RedisError

from crdt.awareness import AwarenessEntry, RemoteNode
from crdt.bounded import StoreBound
from crdt.hooks import Hook
from crdt.lib0 import MalformedFrame
from crdt.room import Room
from crdt.stats import Timings
from crdt.store import ZoneStore
from server.cluster import wire
from server.cluster.bus import Bus
from server.cluster.leader import RELEASE_IF_OURS

log = logging.getLogger("samplan.cluster.zones")

# Upper bounds (seconds) of the Redis lag's buckets: a local Redis answers in well under a
# millisecond; seconds mean a stalled node or Redis.
LAG_BOUNDS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A failed catch-up is tried again after this many seconds, doubling up to the last.
CATCH_UP_RETRY = 0.5
CATCH_UP_RETRY_MAX = 10.0
# A zone's compaction claim lapses after this long if its node never gives it up (killed mid-
# compaction); a fold and its write take well under a second, and at most the commit timeout.
COMPACTION_CLAIM_SECONDS = 30.0
# How long a claim waits for Redis before compacting anyway.
CLAIM_WAIT_SECONDS = 1.0


class RoomFanout:
    def __init__(self, bus: Bus, store: ZoneStore, bound: StoreBound | None = None) -> None:
        self.bus = bus
        self.store = store
        self.bound = bound if bound is not None else StoreBound(None)
        self._rooms: dict[int, Room | None] = {}  # None: opened, still loading
        self._early: dict[int, list[tuple[str, list[wire.Record]]]] = {}
        self._outbox: dict[int, list[wire.Record]] = {}
        self._flush_scheduled = False
        self._nodes: dict[str, RemoteNode] = {}
        self._catching_up: set[int] = set()
        self._catch_up_on_bind: set[int] = set()  # heard late, while still loading
        # Zones whose catch-up failed: the retry's timer and how many failed in a row.
        self._retries: dict[int, tuple[asyncio.TimerHandle, int]] = {}
        self._releases: set[asyncio.Task[None]] = set()
        self.compaction_claims_refused = 0
        self.remote_updates = 0
        self.catch_ups = 0
        self.catch_up_failures = 0
        # A room changed by another node's updates (or a catch-up): the summary writer marks
        # it, so every node holding the room stores its summary (server/core/summary_writer.py).
        self.applied: Hook[Room] = Hook("applied from another node")
        # From another node's send to this node's receipt (`samplan_redis_lag_seconds`).
        self.lag = Timings(LAG_BOUNDS)
        bus.node_gone.subscribe(self._node_gone)
        bus.node_seen.subscribe(self._node_seen)
        bus.reconnected.subscribe(self._reconnected)
        bus.on_lost = self._lost_notice

    def _channel(self, zone_id: int) -> bytes:
        return self.bus.channel(f"room:{zone_id}")

    # -- RoomLink --------------------------------------------------------------------------

    async def open(self, zone_id: int) -> None:
        self._rooms[zone_id] = None
        self._early[zone_id] = []
        channel = self._channel(zone_id)
        await self.bus.subscribe(
            channel, lambda data: self._received(zone_id, data), late=lambda: self._heard(zone_id)
        )

    def _heard(self, zone_id: int) -> None:
        """The zone's subscription was confirmed only after `open` gave up waiting, so the load
        may have read the store before this node heard the zone: what another node committed
        in between came neither in the load nor as a message. Read the zone again, once the
        room is there."""
        if zone_id not in self._rooms:
            return  # closed meanwhile
        if self._rooms[zone_id] is None:
            self._catch_up_on_bind.add(zone_id)
        else:
            self.catch_up(zone_id)

    def bind(self, room: Room) -> None:
        zone_id = room.zone_id
        self._rooms[zone_id] = room
        for node, records in self._early.pop(zone_id, []):
            self._apply(room, node, records)
        self._queue(zone_id, wire.QUERY)  # who is already here, on the other nodes?
        if zone_id in self._catch_up_on_bind:
            self._catch_up_on_bind.discard(zone_id)
            self.catch_up(zone_id)

    def close(self, zone_id: int) -> None:
        self._rooms.pop(zone_id, None)
        self._early.pop(zone_id, None)
        self._catch_up_on_bind.discard(zone_id)
        retry = self._retries.pop(zone_id, None)
        if retry is not None:
            retry[0].cancel()
        self.bus.unsubscribe(self._channel(zone_id))

    def committed(self, zone_id: int, seq: int, update: bytes) -> None:
        self._queue(zone_id, wire.update_record(seq, update))

    def awareness(self, zone_id: int, entries: Sequence[AwarenessEntry]) -> None:
        self._queue(zone_id, wire.awareness_record(entries))

    def _claim_key(self, zone_id: int) -> str:
        return self.bus.channel(f"compacting:{zone_id}").decode()

    async def claim_compaction(self, zone_id: int) -> bool:
        """One node at a time compacts a zone: a claim in Redis (SET NX PX) naming this node.
        Both nodes of a shared zone used to fold the same 1,000 updates at the same moment,
        the second only to find the first's snapshot and merge (issue 15). A Redis that does
        not answer means yes (see crdt/fanout.py)."""
        ms = int(COMPACTION_CLAIM_SECONDS * 1000)
        try:
            async with asyncio.timeout(CLAIM_WAIT_SECONDS):
                claimed = await self.bus.redis.set(
                    self._claim_key(zone_id), self.bus.node_id, nx=True, px=ms
                )
        except (RedisError, OSError, TimeoutError) as exc:
            log.info("zone %s: compaction claim unanswered (%s)", zone_id, type(exc).__name__)
            return True
        if not claimed:
            self.compaction_claims_refused += 1
        return bool(claimed)

    def release_compaction(self, zone_id: int) -> None:
        task = asyncio.get_running_loop().create_task(self._release(zone_id))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, zone_id: int) -> None:
        # Only our own claim: one that lapsed and went to another node stays theirs.
        try:
            async with asyncio.timeout(CLAIM_WAIT_SECONDS):
                await self.bus.redis.eval(
                    RELEASE_IF_OURS, 1, self._claim_key(zone_id), self.bus.node_id
                )
        except (RedisError, OSError, TimeoutError) as exc:
            log.info("zone %s: compaction claim not released (%s)", zone_id, type(exc).__name__)

    # -- out -------------------------------------------------------------------------------

    def _queue(self, zone_id: int, record: wire.Record) -> None:
        self._outbox.setdefault(zone_id, []).append(record)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        outbox, self._outbox = self._outbox, {}
        node = self.bus.node_id
        for zone_id, records in outbox.items():
            self.bus.publish(self._channel(zone_id), wire.encode(node, records))

    def stored_late(self, zone_ids: frozenset[int]) -> None:
        """A commit given up on (the committer's timeout) was stored after all: never relayed,
        so every node holding these zones, this one too, reads them from the store again."""
        for zone_id in zone_ids:
            self._queue(zone_id, wire.CATCH_UP)
            if self._rooms.get(zone_id) is not None:
                self.catch_up(zone_id)

    def _lost_notice(self, channel: bytes) -> bytes | None:
        if not channel.startswith(self.bus.channel("room:")):
            return None
        return wire.encode(self.bus.node_id, [wire.CATCH_UP])

    # -- in --------------------------------------------------------------------------------

    def _received(self, zone_id: int, data: bytes) -> None:
        try:
            message = wire.decode(data)
        except MalformedFrame as exc:
            log.error("zone %s: a malformed cluster message (%s)", zone_id, exc)
            return
        node, records = message.node, message.records
        if node == self.bus.node_id:
            return  # our own, echoed by Redis
        lag = message.lag()
        if lag is not None:
            self.lag.observe(lag)
        if zone_id not in self._rooms:
            return  # closed meanwhile
        room = self._rooms[zone_id]
        if room is None:
            self._early.setdefault(zone_id, []).append((node, records))
            return
        self._apply(room, node, records)

    def _apply(self, room: Room, node: str, records: list[wire.Record]) -> None:
        owner = self._owner(node)
        updates: list[tuple[int, bytes]] = []
        behind = False
        for record in records:
            if record.kind == wire.Kind.UPDATE:
                updates.append((record.seq, record.data))
                continue
            if updates:
                behind |= not room.apply_remote(updates)
                updates = []
            if record.kind == wire.Kind.AWARENESS:
                room.apply_remote_awareness(owner, record.entries)
            elif record.kind == wire.Kind.QUERY:
                present = room.awareness.snapshot(local_only=True)
                if present:
                    self._queue(room.zone_id, wire.awareness_record(present))
            elif record.kind == wire.Kind.CATCH_UP:
                behind = True
        if updates:
            self.remote_updates += len(updates)
            behind |= not room.apply_remote(updates)
        if any(record.kind == wire.Kind.UPDATE for record in records):
            self.applied(room)
        if behind:
            self.catch_up(room.zone_id)

    def _owner(self, node: str) -> RemoteNode:
        owner = self._nodes.get(node)
        if owner is None:
            owner = self._nodes[node] = RemoteNode(node)
            # A node can speak in a room before this node hears its first heartbeat (it
            # started a moment ago): watch it from now on, or a node killed in that moment
            # would never time out and its clients would stay present here.
            self.bus.heard_from(node)
        return owner

    # -- nodes and reconnects ----------------------------------------------------------------

    def _node_gone(self, node: str) -> None:
        owner = self._nodes.pop(node, None)
        if owner is None:
            return
        for room in list(self._rooms.values()):
            if room is not None:
                room.drop_remote_awareness(owner)

    def _node_seen(self, node: str) -> None:
        # A node heard again after a silence: ask who is on it (its clients' states were
        # dropped when it went quiet).
        for zone_id, room in list(self._rooms.items()):
            if room is not None:
                self._queue(zone_id, wire.QUERY)

    def _reconnected(self, _: None) -> None:
        for zone_id, room in list(self._rooms.items()):
            if room is not None:
                self.catch_up(zone_id)
                self._queue(zone_id, wire.QUERY)

    def catch_up(self, zone_id: int) -> None:
        """Read the zone from the store and apply what this node lacks (once at a time)."""
        if zone_id in self._catching_up or self._rooms.get(zone_id) is None:
            return
        retry = self._retries.get(zone_id)
        if retry is not None:
            retry[0].cancel()  # now instead; the count of failures stays until one succeeds
        self._catching_up.add(zone_id)
        asyncio.get_running_loop().create_task(self._catch_up(zone_id))

    async def _catch_up(self, zone_id: int) -> None:
        try:
            stored = await self.bound(
                self.store.load(zone_id), "catch_up", f"catching zone {zone_id} up"
            )
        except Exception as exc:
            self._failed(zone_id, exc)
            return
        finally:
            self._catching_up.discard(zone_id)
        room = self._rooms.get(zone_id)
        if room is None:
            return
        try:
            room.catch_up(stored)
        except Exception as exc:
            self._failed(zone_id, exc)
            return
        failures = self._retries.pop(zone_id, (None, 0))[1]
        room.behind = False
        self.catch_ups += 1
        self.applied(room)
        log.info("zone %s: caught up from the store (after %d failed tries)", zone_id, failures)

    def _failed(self, zone_id: int, exc: BaseException) -> None:
        """A catch-up that failed leaves the room behind the store until one succeeds: marked
        (crdt/registry.py hands it to nobody meanwhile) and tried again, later and later."""
        self.catch_up_failures += 1
        room = self._rooms.get(zone_id)
        if room is None:
            return  # the room went meanwhile: nothing to catch up
        room.behind = True
        previous = self._retries.pop(zone_id, None)
        failures = 1 if previous is None else previous[1] + 1
        if previous is not None:
            previous[0].cancel()
        delay = min(CATCH_UP_RETRY * 2 ** (failures - 1), CATCH_UP_RETRY_MAX)
        timer = asyncio.get_running_loop().call_later(delay, self.catch_up, zone_id)
        self._retries[zone_id] = (timer, failures)
        log.warning(
            "zone %s: catching up from the store failed (%s, %d in a row); the room is "
            "behind, tried again in %.1f s",
            zone_id,
            type(exc).__name__,
            failures,
            delay,
            exc_info=exc if failures == 1 and not isinstance(exc, TimeoutError) else None,
        )
