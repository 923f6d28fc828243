"""One live zone document with its connections, awareness and write path.

The order on an update from a writer is the product's first promise: decode strictly,
apply to the document, log the update the document emitted (the integrated change, not
the raw frame), and relay it to the others only once the log write is durable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pycrdt import Doc, Subscription, TransactionEvent, merge_updates

from crdt.authorship import trace_and_fold, traces_kind
from crdt.awareness import AwarenessEntry, AwarenessStates, RemoteNode
from crdt.committer import GroupCommitter
from crdt.fanout import ForwardRef, RoomLink
from crdt.fold_worker import FoldWorker
from crdt.lib0 import MalformedFrame
from crdt.peer import Peer
from crdt.protocol import (
    MERGE_AT_MOST,
    Auth,
    Awareness,
    CloseCode,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_merged_sync_updates,
    encode_permission_denied,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
)
from crdt.schema import ZONE_ROOTS, ShapeProblem
from crdt.shape_guard import ShapeGuard
from crdt.stats import RelayStats
from crdt.store import LoadedZoneLike
from crdt.update_format import apply_update_safely, delete_set_covered, delete_set_of
from crdt.zone_state import apply_stored

log = logging.getLogger("samplan.room")

EMPTY_UPDATE = b"\x00\x00"
EMPTY_STATE_VECTOR = b"\x00"  # a client that holds nothing (a fresh page, a late joiner)

T = TypeVar("T")


class RoomWriteFailed(Exception):
    """A server-side edit could not be made durable (the room was failed or the write failed)."""


class RoomWriteRefused(RoomWriteFailed):
    """A server-side edit would have broken the zone's shapes: refused, and the room failed."""


class Room:
    def __init__(
        self,
        zone_id: int,
        committer: GroupCommitter,
        *,
        kind: str = "",
        compact_after: int = 1000,
        stats: RelayStats | None = None,
        fold_worker: FoldWorker | None = None,
    ) -> None:
        self.zone_id = zone_id
        # Shared by every room of a registry: what /metrics reports (plain adds, crdt/stats.py).
        self.stats = stats if stats is not None else RelayStats()
        self.kind = kind
        self.committer = committer
        self.compact_after = compact_after
        self.doc: Doc[Any] = Doc()
        self.awareness = AwarenessStates()
        self.peers: set[Peer] = set()
        self.failed = False
        # The store may hold durable updates this document lacks: a catch-up from the store
        # (server/cluster/zones.py) failed or timed out and is being retried. Until one
        # succeeds the room keeps its peers but is not handed to a joiner or a reader as the
        # zone's state (crdt/registry.py).
        self.behind = False
        self.committed_seq = 0  # the highest seq loaded or made durable here (not a fold mark)
        # The seqs of the logged updates this document holds that no snapshot folded yet, as
        # far as this room knows: the exact set its next compaction may fold (an ordered set).
        # Another node's updates are in it only once they came here and integrated (fan-out).
        self._unfolded: dict[int, None] = {}
        # The seq of the stored snapshot this document holds (loaded or written), None when
        # another writer's compaction may have replaced it: then the next one merges. Only a
        # zone compacted from this document uses it (a traced one builds on what it loads).
        self.snapshot_seq: int | None = 0
        self._captured: list[bytes] = []
        # Committed updates waiting for the end of their durable batch, to be relayed as one
        # merged frame per peer (`_relay_committed`): (writer or None, update, received at).
        self._to_relay: list[tuple[Peer | None, bytes, float]] = []
        # The document's encodings as of its last change: our sync step 1 and the step 2 a
        # fresh client (empty state vector) is sent. Every join used to re-encode the whole
        # document (a late joiner of a zone with years of history waited for it); now only
        # the first join after a change does. Both are dropped by every change the document
        # emits (`_on_transaction`), so they never hold less than it does; and they are sent
        # by the same rule as a fresh encoding: only once everything in them is durable.
        self._step1_frame: bytes | None = None
        self._full_step2_frame: bytes | None = None
        self._subscription: Subscription | None = None
        self._guard: ShapeGuard | None = None
        self._last_commit: asyncio.Future[int] | None = None
        # Edits sent to the node that commits the zone (`link.forward`), until durable there
        # or here: like `_last_commit`, a joiner's answer and a compaction wait for them.
        self._forwards: set[asyncio.Future[int]] = set()
        self._compacting: asyncio.Task[None] | None = None
        # The tail length at which a compaction is next tried: `compact_after`, or more after
        # another node held the zone's compaction claim (`link.claim_compaction`).
        self._compact_at = compact_after
        self.on_fail: Callable[[Room], None] | None = None  # the registry drops a failed room
        self.on_compacted: Callable[[Room], None] | None = None  # the server refreshes summaries
        # Called after each durable commit: the server only marks the zone dirty here and
        # looks at the document later (notifications), so the hot path pays one call.
        self.on_committed: Callable[[Room], None] | None = None
        # The other nodes serving this zone (server/cluster), None on a single node.
        self.link: RoomLink | None = None
        # Where a traced compaction's replay runs (the registry's worker process); None: in a
        # thread (a room made on its own, in tests of its mechanics).
        self.fold_worker: FoldWorker | None = fold_worker

    # -- loading -------------------------------------------------------------------------

    def load(self, stored: LoadedZoneLike) -> None:
        """Rebuild the document from its snapshot and log tail (before anyone joins)."""
        apply_stored(self.doc, stored)
        self.committed_seq = max([stored.snapshot_seq, *(seq for seq, _ in stored.updates[-1:])])
        self._unfolded = dict.fromkeys(seq for seq, _ in stored.updates)
        self.snapshot_seq = stored.snapshot_seq
        # Subscribe only after the load: what came from storage is never logged again.
        self._subscription = self.doc.observe(self._on_transaction)
        # The zone's shapes are checked on every write from here on; a room made without a
        # kind (tests of the room's mechanics) checks nothing. The server always names it.
        if self.kind in ZONE_ROOTS:
            self._guard = ShapeGuard(self.doc, self.kind)

    @property
    def tail_length(self) -> int:
        """Logged updates this room holds that are not folded yet: what compaction watches."""
        return len(self._unfolded)

    def _on_transaction(self, event: TransactionEvent) -> None:
        update = event.update
        if update != EMPTY_UPDATE:
            self._captured.append(update)
            self._step1_frame = self._full_step2_frame = None  # stale: the document changed

    # -- membership ----------------------------------------------------------------------

    def add_peer(self, peer: Peer) -> None:
        """Start the sync handshake: our state vector, then who is already here."""
        self.peers.add(peer)
        frame = self._step1_frame
        if frame is None:
            frame = self._step1_frame = encode_sync_step1(self.doc.get_state())
        peer.send(frame)
        present = self.awareness.snapshot()
        if present:
            peer.send(encode_awareness(present))

    def remove_peer(self, peer: Peer) -> None:
        """Forget the peer and withdraw its presence from everyone at once (not 30 s later)."""
        self.peers.discard(peer)
        removals = self.awareness.remove_owner(peer)
        if removals:
            self._broadcast(encode_awareness(removals), exclude=None)
            if self.link is not None:
                self.link.awareness(self.zone_id, removals)

    # -- incoming ------------------------------------------------------------------------

    def receive(self, peer: Peer, frame: bytes) -> None:
        """Handle one frame from `peer`. Raises MalformedFrame; the caller closes with 4400."""
        message = decode_message(frame)
        if isinstance(message, SyncUpdate | SyncStep2):
            if peer.can_write:
                self._apply_from(peer, message.update)
            else:
                self._refuse_write(peer, message.update)
        elif isinstance(message, SyncStep1):
            self._answer_step1(peer, message.state_vector)
        elif isinstance(message, Awareness):
            self._apply_awareness(peer, frame, message.entries)
        elif isinstance(message, QueryAwareness):
            peer.send(encode_awareness(self.awareness.snapshot()))
        elif isinstance(message, Auth):
            pass  # only servers send auth messages; a client's is meaningless but harmless

    def _apply_from(self, peer: Peer, update: bytes) -> None:
        self.stats.received += 1
        if self.failed:
            return
        received_at = time.perf_counter()
        captured = self._captured
        captured.clear()
        guard = self._guard
        if guard is not None:
            guard.problems.clear()
        apply_update_safely(self.doc, update)
        if guard is not None and guard.problems:
            captured.clear()
            self._refuse_shapes(peer, guard.problems)
            return
        if not captured:
            return  # nothing new (a duplicate, or waiting for missing dependencies)
        author = peer.user_id
        link = self.link
        for emitted in captured:
            forwarded = link.forward(self.zone_id, emitted, author) if link is not None else None
            if forwarded is not None:
                _Forward(self, peer, emitted, received_at, author).follow(forwarded)
                continue
            fut = self.committer.submit(self.zone_id, emitted, author)
            self._last_commit = fut
            fut.add_done_callback(_Relay(self, peer, emitted, received_at))
        captured.clear()

    def take_forwarded(self, update: bytes, author: int | None, ref: ForwardRef) -> None:
        """Another node's peer's edit, sent here because this node commits the zone: applied
        and checked against the zone's shapes like a local peer's, logged under the author
        that node's session vouches for, relayed here once durable, and published with `ref`
        so that node knows it is durable (it relays it to its own peers then)."""
        if self.failed:
            return  # no answer: that node commits the edit itself after a while
        captured = self._captured
        captured.clear()
        guard = self._guard
        if guard is not None:
            guard.problems.clear()
        received_at = time.perf_counter()
        apply_update_safely(self.doc, update)
        if guard is not None and guard.problems:
            captured.clear()
            self._refuse_shapes(None, guard.problems)
            return
        emitted, captured[:] = list(captured), []
        if not emitted:
            # Held here already: durable once what this node is writing is, then say so.
            self._when_durable(_AnswerForward(self, ref))
            return
        for i, update in enumerate(emitted):  # one transaction: one update in practice
            fut = self.committer.submit(self.zone_id, update, author)
            self._last_commit = fut
            answer = ref if i == 0 else None
            fut.add_done_callback(_Relay(self, None, update, received_at, forwarded=answer))

    def forward_returned(self, seq: int, update: bytes) -> None:
        """The committing node's update for an edit forwarded from here, durable there as
        `seq`. This document holds the edit already (or gets it now, if it was forwarded by
        an earlier room of the zone); anything more in it (that node's own updates that
        waited for the edit) is durable too and relayed here as another node's."""
        if self.failed or self._subscription is None or not update:
            return
        self._unfolded[seq] = None
        self.committed_seq = max(self.committed_seq, seq)
        captured = self._captured
        captured.clear()
        try:
            apply_update_safely(self.doc, update)
        except MalformedFrame:
            log.error("room %s: a forwarded edit's answer did not apply", self.zone_id)
            return
        if captured:
            for frame in encode_merged_sync_updates(captured):
                self._broadcast(frame, exclude=None)
            captured.clear()
        if self._guard is not None:
            self._guard.problems.clear()  # checked where it was written

    async def edit(self, change: Callable[[Doc[Any]], T], actor: int | None = None) -> T:
        """Make a change on behalf of the server itself (a restore, an action item turned
        into a measure) through the same write path as a peer's: one transaction, logged,
        relayed to every peer once durable. Returns when the change is durable. `actor` is
        the user the server acts for (its author record), None for the server itself.

        `change` must write whole values, never by position (DESIGN §9).
        """
        if self.failed:
            raise RoomWriteFailed(f"room {self.zone_id} has failed")
        captured = self._captured
        captured.clear()
        guard = self._guard
        if guard is not None:
            guard.problems.clear()
        started = time.perf_counter()
        with self.doc.transaction():
            result = change(self.doc)
        emitted, captured[:] = list(captured), []
        if guard is not None and guard.problems:
            self._refuse_shapes(None, guard.problems)
            raise RoomWriteRefused(f"room {self.zone_id}: the edit breaks the zone's shapes")
        commits = []
        for update in emitted:
            fut = self.committer.submit(self.zone_id, update, actor)
            self._last_commit = fut
            fut.add_done_callback(_Relay(self, None, update, started))
            commits.append(fut)
        if commits:
            await asyncio.wait(commits)
            if not all(_succeeded(fut) for fut in commits):
                raise RoomWriteFailed(f"room {self.zone_id}: the log write failed")
        return result

    def _after_commit(
        self,
        fut: asyncio.Future[int],
        origin: Peer | None,
        update: bytes,
        received_at: float,
        *,
        publish: bool = True,
        forwarded: ForwardRef | None = None,
    ) -> None:
        """`publish`: False for an edit another node committed for this one (it published
        it); `forwarded`: committed here for the node named (published with its ref)."""
        if not _succeeded(fut):
            self._fail()
            return
        seq = fut.result()
        self.committed_seq = max(self.committed_seq, seq)
        if seq:  # 0: the committing node held the edit already, under a seq unknown here
            self._unfolded[seq] = None
        # Relayed together with the rest of its durable batch: the committer resolves a
        # batch's futures in one go, so their callbacks are all queued before this one's
        # `call_soon`, which therefore runs after the batch's last one.
        to_relay = self._to_relay
        if not to_relay:
            asyncio.get_running_loop().call_soon(self._relay_committed)
        to_relay.append((origin, update, received_at))
        if self.link is not None and publish:
            self.link.committed(self.zone_id, seq, update, forwarded)
        if self.on_committed is not None:
            self.on_committed(self)
        if self.tail_length > self._compact_at:
            self.compact_in_background()

    def _relay_committed(self) -> None:
        """Send every peer the updates of one durable batch as ONE sync-update frame: their
        merge (Yjs and pycrdt clients apply a merged update as the updates it holds), encoded
        once and the same bytes for every peer. A writer is not sent its own updates back, so
        a writer in the batch gets the merge of the others' (at most one per writer). A batch
        longer than MERGE_AT_MOST (a backlogged room) goes as one such frame per stretch of
        that many, in order.

        Every send walks the ASGI stack down to a `send()` syscall, which is most of a
        relay's cost (docs/BENCHMARKS.md, "Where the time goes under burst"): a batch of k
        updates costs one send per peer, not k."""
        batch, self._to_relay = self._to_relay, []
        if not batch:
            return
        peers = tuple(self.peers)
        if len(batch) == 1:
            origin, update, received_at = batch[0]
            frame = encode_sync_update(update)
            for peer in peers:
                if peer is not origin:
                    peer.send(frame)
            deliveries = frames = len(peers) - (origin in self.peers)
        else:
            deliveries = frames = 0
            for start in range(0, len(batch), MERGE_AT_MOST):
                stretch = batch[start : start + MERGE_AT_MOST]
                [frame] = encode_merged_sync_updates([update for _, update, _ in stretch])
                writers = {origin for origin, _, _ in stretch if origin is not None}
                for peer in peers:
                    if peer in writers:
                        others = [update for origin, update, _ in stretch if origin is not peer]
                        if others:
                            peer.send(encode_merged_sync_updates(others)[0])
                            frames += 1
                        deliveries += len(others)
                    else:
                        peer.send(frame)
                        frames += 1
                        deliveries += len(stretch)
        stats = self.stats
        now = time.perf_counter()
        fanout = stats.fanout
        for _, _, received_at in batch:
            fanout.observe(now - received_at)
        stats.relayed += len(batch)
        stats.frames += frames
        stats.deliveries += deliveries

    def _refuse_write(self, peer: Peer, update: bytes) -> None:
        """A read-only peer's update is never applied; say so unless it is a harmless echo.

        A Yjs client answers our sync step 1 with a step 2 even when it has nothing new:
        no structs and a delete set we already have. Only a real change is refused.
        """
        deletes = delete_set_of(update)
        if deletes is not None:
            if not deletes:
                return
            ours = delete_set_of(self.doc.get_update(self.doc.get_state()))
            if ours is not None and delete_set_covered(deletes, ours):
                return
        log.info("room %s: refused a write from read-only peer %s", self.zone_id, peer.peer_id)
        peer.send(encode_permission_denied("read-only"))

    def _answer_step1(self, peer: Peer, state_vector: bytes) -> None:
        """Send what the peer lacks, but only once everything in it is durable.

        A fresh client (empty state vector) gets the cached encoding of the whole document.
        It holds exactly what the document held at its last change, and `_last_commit` is
        still that change's commit (a change drops the cache before it is submitted), so
        waiting for it below makes the cached reply durable just as a fresh one."""
        if state_vector == EMPTY_STATE_VECTOR:
            reply = self._full_step2_frame
            if reply is None:
                reply = self._full_step2_frame = encode_sync_step2(self.doc.get_update())
        else:
            try:
                reply = encode_sync_step2(self.doc.get_update(state_vector))
            except ValueError as exc:
                raise MalformedFrame("invalid state vector") from exc
        self._when_durable(_SendWhenDurable(peer, reply))

    def _pending_writes(self) -> list[asyncio.Future[int]]:
        pending = [fut for fut in self._forwards if not fut.done()]
        last = self._last_commit
        if last is not None and not last.done():
            pending.append(last)
        return pending

    def _when_durable(self, then: Callable[[asyncio.Future[Any]], None]) -> None:
        """Call `then` once everything applied so far is durable: at once if it is; with the
        failed future if a write failed (the room fails, and `then` says nothing)."""
        pending = self._pending_writes()
        if not pending:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            then(done)
        elif len(pending) == 1:
            pending[0].add_done_callback(then)
        else:
            asyncio.gather(*pending).add_done_callback(then)

    def _apply_awareness(self, peer: Peer, frame: bytes, entries: Iterable[AwarenessEntry]) -> None:
        entries = tuple(entries)
        if peer.identity is not None:
            entries = tuple(_stamped(entry, peer.identity) for entry in entries)
            frame = b""  # the states changed: re-encode below
        accepted, refused = self.awareness.apply(peer, entries)
        if refused:
            log.warning(
                "room %s: peer %s tried to change %d awareness state(s) it does not own",
                self.zone_id,
                peer.peer_id,
                len(refused),
            )
        if not accepted:
            return
        # Everyone gets it, the sender too (as the reference server does: it keeps a lone
        # client's connection alive). Reuse the frame's bytes when nothing was changed.
        unchanged = frame and len(accepted) == len(entries)
        self._broadcast(frame if unchanged else encode_awareness(accepted), exclude=None)
        if self.link is not None:
            self.link.awareness(self.zone_id, accepted)

    # -- from other nodes (server/cluster; crdt/fanout.py) --------------------------------

    def apply_remote(
        self, updates: Sequence[tuple[int, bytes]], *, from_store: bool = False
    ) -> bool:
        """Updates another node made durable, each with its seq: applied with a remote origin
        and relayed to this node's peers in one frame, never logged nor published again. Each
        one that integrated joins the seqs this room may fold (its snapshot holds it now).

        Returns False when one did not integrate (it waits for an update this node never
        got, e.g. across a Redis reconnect): the caller catches up from the store. Such a
        seq is never folded from here: this document's snapshot would lack it.
        """
        if self.failed or self._subscription is None:
            return True
        complete = True
        captured = self._captured
        relay: list[bytes] = []
        for seq, update in updates:
            captured.clear()
            try:
                apply_update_safely(self.doc, update)
            except MalformedFrame:
                log.error("room %s: another node's update %s did not apply", self.zone_id, seq)
                continue
            if not captured:
                # Nothing new: a duplicate (fine), or structs waiting for what is missing.
                if seq not in self._unfolded and delete_set_of(update) is None:
                    complete = False
                continue
            self._unfolded[seq] = None
            self.committed_seq = max(self.committed_seq, seq)
            if from_store or (len(captured) == 1 and captured[0] == update):
                relay.extend(captured)
            else:
                # More integrated than the update itself: a local peer's update that was
                # waiting for it. That part is not durable yet, so it is logged like the
                # server's own edit and relayed once durable (persist before relay).
                for emitted in list(captured):
                    fut = self.committer.submit(self.zone_id, emitted, None)
                    self._last_commit = fut
                    fut.add_done_callback(_Relay(self, None, emitted, time.perf_counter()))
        captured.clear()
        if relay:
            # One frame per peer for the whole message (every update the other node committed
            # in one batch), as for a local batch (`_relay_committed`): each send walks the
            # ASGI stack down to a syscall, and a busy room's messages carry several.
            for frame in encode_merged_sync_updates(relay):
                self._broadcast(frame, exclude=None)
        if self._guard is not None:
            self._guard.problems.clear()  # checked where it was written
        return complete

    def catch_up(self, stored: LoadedZoneLike) -> None:
        """Apply what the store holds (after missed messages): the snapshot and every logged
        update, as another node's; duplicates change nothing."""
        if stored.snapshot is not None:
            self.apply_remote([(0, stored.snapshot)], from_store=True)
            self._unfolded.pop(0, None)  # the snapshot is no logged update
        self.apply_remote(stored.updates, from_store=True)
        for seq, _ in stored.updates:  # all in the document now, integrated or duplicate
            self._unfolded[seq] = None

    def apply_remote_awareness(self, node: RemoteNode, entries: Iterable[AwarenessEntry]) -> None:
        """Another node's clients' presence, relayed to this node's peers."""
        accepted, _ = self.awareness.apply(node, entries)
        if accepted:
            self._broadcast(encode_awareness(accepted), exclude=None)

    def drop_remote_awareness(self, node: RemoteNode) -> None:
        """A node that left or stopped answering: its clients' presence goes at once."""
        removals = self.awareness.remove_owner(node)
        if removals:
            self._broadcast(encode_awareness(removals), exclude=None)

    # -- outgoing ------------------------------------------------------------------------

    def _broadcast(self, frame: bytes, exclude: Peer | None) -> None:
        for peer in tuple(self.peers):
            if peer is not exclude:
                peer.send(frame)

    def close_all(self, code: int, reason: str) -> None:
        for peer in tuple(self.peers):
            peer.close(code, reason)

    def drop(self, code: int, reason: str) -> None:
        """Stop serving for good, without saving anything (the zone was deleted): nothing more
        is applied, logged or compacted (the same guard as a failed write), and every peer is
        closed with `code`."""
        self.failed = True
        log.info("room %s: dropped; closing %d peers", self.zone_id, len(self.peers))
        self.close_all(code, reason)

    def _fail(self) -> None:
        """A durable write failed: the document holds something that is not on disk.

        Nobody may see it, so every peer is sent away to reconnect; the registry drops this
        room and the next join loads the durable state. The writers still hold their edits
        and send them again on resync.
        """
        if self.failed:
            return
        self.failed = True
        log.error("room %s: log write failed; closing %d peers", self.zone_id, len(self.peers))
        self.close_all(CloseCode.TRY_AGAIN_LATER, "storage unavailable")
        if self.on_fail is not None:
            self.on_fail(self)

    def _refuse_shapes(self, peer: Peer | None, problems: list[ShapeProblem]) -> None:
        """An update that breaks the zone's shapes is never stored nor relayed, like a
        read-only peer's; but the document already holds it, so the room fails as on a failed
        log write: everyone else reconnects and resyncs from the durable state (they never saw
        it), and the writer gets a final close, so it does not keep resending a change nobody
        else has (its page reloads the zone from the server).

        The server's own edits are checked the same way (`peer` None): one rule for everything
        stored, and a server bug shows as a refused write rather than a page that breaks."""
        if self.failed:
            return
        self.failed = True
        for problem in problems[:5]:  # ids and names only: never the value
            log.warning(
                "room %s: refused an update from %s that breaks the zone's shapes: "
                "root %s, item %s, position %s, field %s",
                self.zone_id,
                f"peer {peer.peer_id}" if peer is not None else "the server",
                problem.root,
                problem.item,
                problem.position,
                problem.field,
            )
        if peer is not None:
            peer.close(CloseCode.UNPROCESSABLE, "refused: breaks the plan's shape")
        self.close_all(CloseCode.TRY_AGAIN_LATER, "resync")
        if self.on_fail is not None:
            self.on_fail(self)

    # -- persistence ---------------------------------------------------------------------

    async def settle(self) -> None:
        """Wait until every update applied so far is durable."""
        pending = self._pending_writes()
        if pending:
            await asyncio.wait(pending)

    async def compact(self) -> None:
        """Fold the updates this room logged or loaded into one snapshot, so the next load is
        one snapshot plus a short tail.

        Exactly those updates are folded (by seq), never one another node logged for the same
        zone meanwhile, whatever its seq: another node's are never among them. If another
        node's compaction replaced the stored snapshot since this one was built on it, storage
        merges the two (DESIGN §4): nothing either folded is lost.
        """
        await self.settle()
        if self.failed or not self._unfolded:
            return
        if traces_kind(self.kind):
            await self._compact_traced()
            return
        # The snapshot is this document, which holds every update in it (anything applied
        # later stays in the tail too; duplicates in CRDT updates are harmless).
        folded = list(self._unfolded)
        snapshot = self.doc.get_update()
        self.snapshot_seq = await self._fold(folded, snapshot, None, self.snapshot_seq)
        self._forget_folded(folded)

    async def _compact_traced(self) -> None:
        """Which items each folded update touched is replayed from the stored log (off the
        relay path: crdt/authorship.py); storage keeps who and when from the rows. The
        snapshot is built in the same replay from exactly the folded updates, so whatever
        stays in the log is traced later against a state without it."""
        store = self.committer.store
        before = list(self._unfolded)  # all durable before the load began
        stored = await store.load(self.zone_id)
        if self.failed:
            return
        logged = {seq for seq, _ in stored.updates}
        ours = set(self._unfolded)
        folded = [seq for seq, _ in stored.updates if seq in ours]
        # Ours from before the load and no longer logged: another node folded them (and kept
        # their records). Ours logged after the load stay for the next compaction.
        gone = [seq for seq in before if seq not in logged]
        if folded:
            # In a worker thread: replaying up to `compact_after` updates takes tens of
            # milliseconds, which the event loop (everyone's typing) must not wait for.
            if self.fold_worker is not None:
                # In a process of its own: pycrdt holds the GIL through each call, so a
                # thread would still stall the loop for the longest one (crdt/fold_worker.py).
                traces, snapshot = await self.fold_worker.trace_and_fold(
                    self.kind, stored.snapshot, stored.updates, set(folded)
                )
            else:
                traces, snapshot = await asyncio.to_thread(
                    trace_and_fold, self.kind, stored.snapshot, stored.updates, set(folded)
                )
            if self.failed:
                return
            await self._fold(folded, snapshot, traces, stored.snapshot_seq)
        self._forget_folded(folded + gone)

    async def _fold(
        self,
        folded: list[int],
        snapshot: bytes,
        traces: dict[int, str] | None,
        based_on: int | None,
    ) -> int | None:
        store = self.committer.store
        written = await self.committer.run_job(
            lambda: store.compact(
                self.zone_id,
                folded,
                snapshot,
                traces,
                based_on=based_on,
                merge=_MergeInto(snapshot),
            )
        )
        log.info(
            "room %s: folded %d updates it held (snapshot %s)",
            self.zone_id,
            len(folded),
            "merged or unchanged" if written is None else "written",
        )
        if self.on_compacted is not None:
            self.on_compacted(self)
        return written

    def _forget_folded(self, seqs: list[int]) -> None:
        for seq in seqs:
            self._unfolded.pop(seq, None)

    def compact_in_background(self, delay: float = 0.0) -> None:
        """Start a compaction unless one is running; `delay` lets a cold load's first
        sync go out before the compaction takes its share of the event loop."""
        loop = asyncio.get_running_loop()
        if delay > 0:
            loop.call_later(delay, self.compact_in_background)
        elif self._compacting is None and not self.failed and self._subscription is not None:
            self._compacting = loop.create_task(self._compact_in_background())

    async def _compact_in_background(self) -> None:
        link = self.link
        folded = False
        try:
            if link is not None and not await link.claim_compaction(self.zone_id):
                # Another node is folding this zone's updates (it holds them too): doing it
                # here as well doubled the work and the database's load (issue 15). Tried
                # again once as many more have come; by then that node's fold is done, and
                # ours finds what it folded gone from the log.
                self._compact_at = self.tail_length + self.compact_after
                log.info("room %s: another node compacts it now; not here", self.zone_id)
                return
            try:
                await self.compact()
            finally:
                if link is not None:
                    link.release_compaction(self.zone_id)
            self._compact_at = self.compact_after
            folded = True
        except Exception as exc:
            log.error(
                "room %s: compaction failed: %s", self.zone_id, type(exc).__name__, exc_info=exc
            )
        finally:
            self._compacting = None
        # Commits that came during the fold passed the threshold while this one ran, and
        # only a commit starts a compaction: in a room that has gone quiet the tail would
        # wait for the next edit or the unload. (Not after a failure: no retry loop.)
        if folded and self.tail_length > self._compact_at:
            self.compact_in_background()

    def dispose(self) -> None:
        if self._subscription is not None:
            self.doc.unobserve(self._subscription)
            self._subscription = None
        if self._guard is not None:
            self._guard.close()
            self._guard = None


def _stamped(entry: AwarenessEntry, identity: dict[str, Any]) -> AwarenessEntry:
    if entry.removed:
        return entry
    state = json.loads(entry.state_json)  # the codec checked it is a JSON object
    claimed = state.get("user")
    state["user"] = {**(claimed if isinstance(claimed, dict) else {}), **identity}
    return AwarenessEntry(entry.client_id, entry.clock, json.dumps(state, ensure_ascii=False))


def _succeeded(fut: asyncio.Future[int]) -> bool:
    return not fut.cancelled() and fut.exception() is None


class _MergeInto:
    """Storage's merge for a compaction: the stored snapshot (another node's) and ours, as one
    update holding both (Yjs updates merge without conflict; duplicates are dropped)."""

    __slots__ = ("ours",)

    def __init__(self, ours: bytes) -> None:
        self.ours = ours

    def __call__(self, stored: bytes) -> bytes:
        return merge_updates(stored, self.ours)


class _SendWhenDurable:
    __slots__ = ("peer", "frame")

    def __init__(self, peer: Peer, frame: bytes) -> None:
        self.peer = peer
        self.frame = frame

    def __call__(self, fut: asyncio.Future[Any]) -> None:
        if _succeeded(fut):
            self.peer.send(self.frame)


class _AnswerForward:
    """A forwarded edit this node held already: durable once its pending writes are."""

    __slots__ = ("room", "ref")

    def __init__(self, room: Room, ref: ForwardRef) -> None:
        self.room = room
        self.ref = ref

    def __call__(self, fut: asyncio.Future[Any]) -> None:
        link = self.room.link
        if _succeeded(fut) and link is not None:
            link.committed(self.room.zone_id, 0, b"", self.ref)


class _Forward:
    """One local peer's edit sent to the node that commits the zone: durable once that node
    says so, or once this node commits it itself (no answer in time, or that node gone).
    Until then it is relayed to nobody here, like an edit waiting for its own commit."""

    __slots__ = ("room", "origin", "update", "received_at", "author", "durable")

    def __init__(
        self, room: Room, origin: Peer, update: bytes, received_at: float, author: int | None
    ) -> None:
        self.room = room
        self.origin = origin
        self.update = update
        self.received_at = received_at
        self.author = author
        self.durable: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def follow(self, forwarded: asyncio.Future[int]) -> None:
        forwards = self.room._forwards
        forwards.add(self.durable)
        self.durable.add_done_callback(forwards.discard)
        forwarded.add_done_callback(self._answered)

    def _answered(self, forwarded: asyncio.Future[int]) -> None:
        room = self.room
        if _succeeded(forwarded):
            self._durable(forwarded, publish=False)
        elif room.failed:
            self.durable.cancel()
        else:
            log.info("room %s: a forwarded edit was not answered; committed here", room.zone_id)
            fut = room.committer.submit(room.zone_id, self.update, self.author)
            fut.add_done_callback(self._committed_here)

    def _committed_here(self, fut: asyncio.Future[int]) -> None:
        self._durable(fut, publish=True)

    def _durable(self, fut: asyncio.Future[int], *, publish: bool) -> None:
        if _succeeded(fut):
            self.durable.set_result(fut.result())
        elif not self.durable.done():
            self.durable.cancel()
        self.room._after_commit(fut, self.origin, self.update, self.received_at, publish=publish)


class _Relay:
    """Done-callback for one committed update (a class, not a closure, to keep it cheap)."""

    __slots__ = ("room", "origin", "update", "received_at", "forwarded")

    def __init__(
        self,
        room: Room,
        origin: Peer | None,
        update: bytes,
        received_at: float,
        forwarded: ForwardRef | None = None,
    ) -> None:
        self.room = room
        self.origin = origin
        self.update = update
        self.received_at = received_at
        self.forwarded = forwarded

    def __call__(self, fut: asyncio.Future[int]) -> None:
        self.room._after_commit(
            fut, self.origin, self.update, self.received_at, forwarded=self.forwarded
        )
