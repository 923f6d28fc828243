"""Room fan-out over Redis: each zone's committed updates and awareness on a channel per zone
(crdt/fanout.py's `RoomLink`, which the room registry calls).

A node listens on a zone's channel only while it holds the room, and listens before it
loads it. What a node sends is what its own peers did: updates only after its durable commit
(with the seq, so every node's compaction may fold it), awareness as its room accepted it.
What comes in is applied with a remote origin and relayed to local peers, never stored nor
sent on. One message per zone per event-loop turn carries all of that turn's records.

With SAMPLAN_CLUSTER_FORWARD_EDITS (off by default), one node commits a zone's edits: of the
nodes that hold the room, the one with the lowest id, as far as this node has heard (every
node says so on the channel when it opens the room or is asked, and says when it closes it).
The others forward their peers' edits to it, with the author their session vouches for, and
relay an edit to their own peers when it comes back durable. Who commits is only a hint,
never a lease: any node may commit any zone safely (compaction folds exactly what it names),
so a node that hears no answer within FORWARD_WAIT_SECONDS, or hears the committing node
go, commits the edits waiting for it itself. A duplicate that makes is a harmless CRDT
update. It was built to halve two nodes' commits on a busy zone; measured, it was slower
than two committers (docs/BENCHMARKS.md, "Forwarding").

Presence of another node's clients is owned by that node (crdt.awareness.RemoteNode): it
leaves when the node says a client left, when the node says goodbye, and when the node is
not heard from for a few seconds (a SIGKILLed node says nothing). A room just loaded asks
the others who is there. A node that may have missed messages (a Redis reconnect, a
non-integrating update, a peer's lost publish) reads the zone from the store again: a
catch-up, bounded like a commit (crdt/bounded.py). One that fails or times out marks the
room behind (never handed to a joiner or a reader as the zone's state) and is tried again,
later and later, until one succeeds or the room goes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from crdt.awareness import AwarenessEntry, RemoteNode
from crdt.bounded import StoreBound
from crdt.fanout import ForwardRef
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
# A forwarded edit that is not back durable after this long is committed by the node that
# forwarded it: far above a commit under load (tens of milliseconds), and what a writer
# waits at most when the committing node died without a word.
FORWARD_WAIT_SECONDS = 2.0


class ForwardUnanswered(Exception):
    """The committing node did not say the edit is durable: commit it here."""


@dataclass(slots=True)
class _Pending:
    zone_id: int
    to: str
    durable: asyncio.Future[int]
    timer: asyncio.TimerHandle


class RoomFanout:
    def __init__(
        self,
        bus: Bus,
        store: ZoneStore,
        bound: StoreBound | None = None,
        *,
        forward: bool = False,
    ) -> None:
        self.bus = bus
        self.forward_edits = forward  # SAMPLAN_CLUSTER_FORWARD_EDITS
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
        # The other nodes that hold each zone's room, as heard on its channel.
        self._holders: dict[int, set[str]] = {}
        self._forwarding: dict[int, _Pending] = {}
        self._numbers = itertools.count(1)
        self.forwarded = 0  # local peers' edits sent to the committing node
        self.forwards_taken = 0  # other nodes' edits committed here
        self.forwards_unanswered = 0  # forwarded, then committed here after all
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
        if self.forward_edits:
            self._queue(zone_id, wire.LEAVE)  # nobody forwards to us any more
        self._holders.pop(zone_id, None)
        self._give_up(lambda pending: pending.zone_id == zone_id, "the room closed")
        self.bus.unsubscribe(self._channel(zone_id))

    def committed(
        self, zone_id: int, seq: int, update: bytes, forwarded: ForwardRef | None = None
    ) -> None:
        if forwarded is None:
            self._queue(zone_id, wire.update_record(seq, update))
        else:
            self._queue(zone_id, wire.forwarded_record(*forwarded, seq, update))

    def forward(
        self, zone_id: int, update: bytes, author: int | None
    ) -> asyncio.Future[int] | None:
        holders = self._holders.get(zone_id)
        if not holders or not self.forward_edits or not self.bus.connected:
            return None
        to = min(holders)
        if to > self.bus.node_id:
            return None  # this node commits the zone
        loop = asyncio.get_running_loop()
        number = next(self._numbers)
        durable: asyncio.Future[int] = loop.create_future()
        timer = loop.call_later(FORWARD_WAIT_SECONDS, self._unanswered, number)
        self._forwarding[number] = _Pending(zone_id, to, durable, timer)
        self._queue(zone_id, wire.forward_record(to, number, author, update))
        self.forwarded += 1
        return durable

    def _unanswered(self, number: int) -> None:
        pending = self._forwarding.get(number)
        if pending is None:
            return
        zone_id, to = pending.zone_id, pending.to
        # Nothing more goes there until it speaks on the zone's channel again (a node killed
        # a moment ago is announced gone only after NODE_TIMEOUT_SECONDS), and every edit
        # still waiting for it is committed here now, in order, before any later one: a
        # later edit of the same writer committed first would sit in the log unreadable
        # until the ones before it come (Yjs integrates each client's edits in order).
        self._holders.get(zone_id, set()).discard(to)
        self._give_up(lambda p: p.zone_id == zone_id and p.to == to, f"no answer from {to}")

    def _fail_forward(self, pending: _Pending, why: str) -> None:
        pending.timer.cancel()
        self.forwards_unanswered += 1
        log.info("zone %s: a forwarded edit is committed here (%s)", pending.zone_id, why)
        pending.durable.set_exception(ForwardUnanswered(why))

    def _give_up(self, which: Callable[[_Pending], bool], why: str) -> None:
        for number, pending in list(self._forwarding.items()):
            if which(pending):
                del self._forwarding[number]
                self._fail_forward(pending, why)

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
        if self.forward_edits:  # who holds the zone matters only to forwarding
            self._heard_holding(zone_id, node, records)
        room = self._rooms[zone_id]
        if room is None:
            self._early.setdefault(zone_id, []).append((node, records))
            return
        self._apply(room, node, records)

    def _apply(self, room: Room, node: str, records: list[wire.Record]) -> None:
        owner = self._owner(node)
        updates: list[tuple[int, bytes]] = []
        behind = False
        here = self.bus.node_id
        changed = False
        for record in records:
            kind = record.kind
            if kind == wire.Kind.UPDATE or (kind == wire.Kind.FORWARDED and record.node != here):
                if record.seq:  # 0: an answer that brought nothing new
                    updates.append((record.seq, record.data))
                continue
            if updates:
                self.remote_updates += len(updates)
                behind |= not room.apply_remote(updates)
                updates, changed = [], True
            if kind == wire.Kind.FORWARDED:
                self._returned(room, record)
            elif kind == wire.Kind.FORWARD:
                if record.node == here:
                    self.forwards_taken += 1
                    room.take_forwarded(record.data, record.author, (node, record.number))
            elif kind == wire.Kind.AWARENESS:
                room.apply_remote_awareness(owner, record.entries)
            elif kind == wire.Kind.QUERY:
                present = room.awareness.snapshot(local_only=True)
                if present:
                    self._queue(room.zone_id, wire.awareness_record(present))
                elif self.forward_edits:  # an answer even so: the asker learns who holds it
                    self._queue(room.zone_id, wire.HERE)
            elif kind == wire.Kind.CATCH_UP:
                behind = True
        if updates:
            self.remote_updates += len(updates)
            behind |= not room.apply_remote(updates)
            changed = True
        if changed:
            self.applied(room)
        if behind:
            self.catch_up(room.zone_id)

    def _heard_holding(self, zone_id: int, node: str, records: list[wire.Record]) -> None:
        holders = self._holders.setdefault(zone_id, set())
        if any(record.kind == wire.Kind.LEAVE for record in records):
            holders.discard(node)
            self._give_up(
                lambda pending: pending.zone_id == zone_id and pending.to == node,
                f"{node} closed the room",
            )
        else:
            holders.add(node)

    def _returned(self, room: Room, record: wire.Record) -> None:
        """An edit this node forwarded, durable on the committing node: the room relays it
        to its own peers now. One answered too late (committed here meanwhile) or forwarded
        by an earlier room of the zone is still applied, as another node's update."""
        room.forward_returned(record.seq, record.data)
        pending = self._forwarding.pop(record.number, None)
        if pending is not None:
            pending.timer.cancel()
            pending.durable.set_result(record.seq)

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
        for holders in self._holders.values():
            holders.discard(node)
        self._give_up(lambda pending: pending.to == node, f"{node} is gone")
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
