"""The live rooms of one server process: load each once, unload when idle.

Concurrent joins of a room that is not in memory await the same load (a pitfall of
pycrdt-websocket: three clients opening a new room at once, two never finish syncing).
A room with no peers is compacted and dropped after a grace period, unless someone
joined in the meantime.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pycrdt import Doc

from crdt.bounded import StoreTimeout
from crdt.committer import GroupCommitter
from crdt.fanout import RoomLink
from crdt.fold_worker import FoldWorker
from crdt.hooks import Hook
from crdt.peer import Peer
from crdt.protocol import CloseCode
from crdt.room import Room
from crdt.stats import RelayStats
from crdt.zone_state import doc_from_stored

log = logging.getLogger("samplan.registry")

T = TypeVar("T")


class LoadTimeout(StoreTimeout):
    """A zone's load from the store did not return within the bound: its joiners are sent
    away (1013) and nothing of it is kept, so the next join loads it afresh."""


class RoomBehind(StoreTimeout):
    """The live room may lack durable updates (its catch-up from the store failed and is being
    retried): it is not handed out as the zone's state until it has caught up."""


# A long tail found at load is folded a moment later, after the joiners' first sync.
COMPACT_AFTER_LOAD_DELAY = 1.0


class RoomRegistry:
    def __init__(
        self,
        committer: GroupCommitter,
        *,
        grace_seconds: float = 10.0,
        compact_after: int = 1000,
    ) -> None:
        self.committer = committer
        self.grace_seconds = grace_seconds
        self.compact_after = compact_after
        self.rooms: dict[int, Room] = {}
        self._loading: dict[int, asyncio.Future[Room]] = {}
        self._unload_timers: dict[int, asyncio.TimerHandle] = {}
        self._unloading: set[int] = set()
        self.last_load_seconds = 0.0
        self.stats = RelayStats()  # every room's counts and fan-out timings (/metrics)
        # Every room's traced compaction replays in this one worker process (off the GIL).
        self.fold_worker = FoldWorker()
        # What the server subscribes to (wired in one place, server/services.py): a room once
        # loaded (a watcher's baseline), after each durable commit (the hot path: subscribers
        # only mark the room and look later), after each compaction (stored summaries).
        self.loaded: Hook[Room] = Hook("loaded")
        self.committed: Hook[Room] = Hook("committed")
        self.compacted: Hook[Room] = Hook("compacted")
        # The other nodes (server/cluster), set before the first room loads; None: one node.
        self.link: RoomLink | None = None

    async def join(self, zone_id: int, peer: Peer, kind: str = "") -> Room:
        room = await self.get(zone_id, kind)
        timer = self._unload_timers.pop(zone_id, None)
        if timer is not None:
            timer.cancel()
        room.add_peer(peer)
        return room

    def leave(self, room: Room, peer: Peer) -> None:
        """Remove the peer (idempotent: a server-side close and the socket's end both call it)."""
        if peer not in room.peers:
            return
        room.remove_peer(peer)
        if room.failed:
            self._forget(room)
        else:
            self._unload_when_idle(room)

    async def edit(
        self,
        zone_id: int,
        change: Callable[[Doc[Any]], T],
        kind: str = "",
        *,
        actor: int | None,
    ) -> T:
        """A server-side change to a zone, live or not: load it if needed, apply `change`
        through the room's write path (durable, then relayed), and let an idle room go.
        `actor` is the signed-in person the server acts for, recorded as the change's author
        (None only for the server itself); every caller says which."""
        room = await self.get(zone_id, kind)
        try:
            return await room.edit(change, actor)
        finally:
            if not room.failed:  # a failed room has already been dropped (on_fail)
                self._unload_when_idle(room)

    async def read(self, zone_id: int) -> Doc[Any]:
        """The zone as it is now, durably: every reader outside the sync path asks here.

        A private copy of the live room's document once what it applied is durable (so a
        page never shows what a crash could take back, and a reader can never change the live
        document), else rebuilt from the store without loading a room. A failed room is never
        read: its document may hold what is not on disk; nor is one behind the store (a
        failed catch-up): it may lack what is.

        The store's read is bounded like a load (crdt/bounded.py): a page waits at most
        that long for a database that does not answer, then gets StoreTimeout (an OSError:
        503, "try again").
        """
        live = await self.read_live(zone_id, _copy)
        if live is not None:
            return live
        stored = await self.committer.bound(
            self.committer.store.load(zone_id), "read", f"reading zone {zone_id}"
        )
        return doc_from_stored(stored)

    async def read_live(self, zone_id: int, reader: Callable[[Doc[Any]], T]) -> T | None:
        """`reader` applied to the live document once what it applied is durable, or None
        when the zone is not in memory (or failed): for readers that keep a stored summary of
        every zone and only want the fresher word of a live one, without copying it. The
        reader runs synchronously, so nothing changes the document under it; it must neither
        change the document nor keep it."""
        room = self.rooms.get(zone_id)
        if room is None or room.failed or room.behind:
            return None
        await room.settle()
        if room.failed or room.behind:
            return None
        return reader(room.doc)

    def __len__(self) -> int:
        """Rooms in memory (health and metrics)."""
        return len(self.rooms)

    def _unload_when_idle(self, room: Room) -> None:
        if not room.peers and room.zone_id not in self._unload_timers:
            loop = asyncio.get_running_loop()
            self._unload_timers[room.zone_id] = loop.call_later(
                self.grace_seconds, self._start_unload, room.zone_id
            )

    async def get(self, zone_id: int, kind: str = "") -> Room:
        room = self.rooms.get(zone_id)
        if room is not None and not room.failed:
            if room.behind:
                raise RoomBehind(f"zone {zone_id} is catching up from the store")
            return room
        loading = self._loading.get(zone_id)
        if loading is None:
            loading = asyncio.get_running_loop().create_future()
            self._loading[zone_id] = loading
            try:
                room = await self._load(zone_id, kind)
            except BaseException as exc:
                loading.set_exception(exc)
                loading.exception()  # mark retrieved: the joiners below re-raise it
                raise
            finally:
                del self._loading[zone_id]
            loading.set_result(room)
            return room
        return await asyncio.shield(loading)

    async def _load(self, zone_id: int, kind: str) -> Room:
        started = time.perf_counter()
        link = self.link
        if link is not None:
            # Listen first, then read: nothing another node commits falls between (DESIGN §6).
            await link.open(zone_id)
        try:
            # Bounded like a commit (issue 15): a stalled database held every joiner of the
            # zone, and the zone stayed "loading" for everybody after them. On a timeout the
            # joiners get 1013 and nothing is kept (no room, no listener, no `_loading`
            # entry); the read left running is dropped whenever it ends.
            stored = await self.committer.bound(
                self.committer.store.load(zone_id),
                "load",
                f"loading zone {zone_id}",
                error=LoadTimeout,
            )
        except BaseException as exc:
            if link is not None:
                link.close(zone_id)
            if isinstance(exc, LoadTimeout):
                log.warning("room %s: loading timed out; its joiners are sent away", zone_id)
            raise
        room = Room(
            zone_id,
            self.committer,
            kind=kind,
            compact_after=self.compact_after,
            stats=self.stats,
            fold_worker=self.fold_worker,
        )
        room.on_fail = self._forget
        room.on_compacted = self.compacted
        room.load(stored)
        room.on_committed = self.committed
        room.link = link
        self.rooms[zone_id] = room
        if link is not None:
            link.bind(room)
        self.loaded(room)
        self.last_load_seconds = time.perf_counter() - started
        log.info(
            "room %s loaded (%d updates in tail) in %.1f ms",
            zone_id,
            len(stored.updates),
            self.last_load_seconds * 1000,
        )
        if room.tail_length > self.compact_after:
            room.compact_in_background(delay=COMPACT_AFTER_LOAD_DELAY)
        return room

    def _start_unload(self, zone_id: int) -> None:
        self._unload_timers.pop(zone_id, None)
        asyncio.get_running_loop().create_task(self.unload(zone_id))

    async def unload(self, zone_id: int) -> None:
        """Compact and drop an idle room; keep it if someone joined while compacting."""
        room = self.rooms.get(zone_id)
        if room is None or room.peers or zone_id in self._unloading:
            return
        self._unloading.add(zone_id)
        try:
            await room.compact()
        except Exception as exc:
            log.error(
                "room %s: compaction on unload failed: %s",
                zone_id,
                type(exc).__name__,
                exc_info=exc,
            )
        finally:
            self._unloading.discard(zone_id)
        if not room.peers and self.rooms.get(zone_id) is room:
            self._forget(room)
            log.info("room %s unloaded", zone_id)

    def drop(self, zone_id: int, code: int, reason: str) -> bool:
        """Forget a room whose zone is gone, WITHOUT compacting it: a snapshot taken now would
        write deleted content back (or fail). Its peers are closed with `code`. False when the
        room is not in memory."""
        timer = self._unload_timers.pop(zone_id, None)
        if timer is not None:
            timer.cancel()
        room = self.rooms.get(zone_id)
        if room is None:
            return False
        room.drop(code, reason)
        self._forget(room)
        return True

    def _forget(self, room: Room) -> None:
        if self.rooms.get(room.zone_id) is room:
            del self.rooms[room.zone_id]
            if self.link is not None:
                self.link.close(room.zone_id)
        room.link = None
        room.dispose()

    async def close(self) -> None:
        """Shutdown: tell every client to come back, make everything durable, compact."""
        for timer in self._unload_timers.values():
            timer.cancel()
        self._unload_timers.clear()
        rooms = list(self.rooms.values())
        for room in rooms:
            room.close_all(CloseCode.RESTARTING, "server restarting")
        await self.committer.flush()
        log.info("shutdown: %d rooms closed (1012), their pending writes flushed", len(rooms))
        for room in list(self.rooms.values()):
            try:
                await room.compact()
            except Exception as exc:
                log.error(
                    "room %s: compaction at shutdown failed: %s",
                    room.zone_id,
                    type(exc).__name__,
                    exc_info=exc,
                )
            self._forget(room)
        await self.fold_worker.close()


def _copy(doc: Doc[Any]) -> Doc[Any]:
    copy: Doc[Any] = Doc()
    copy.apply_update(doc.get_update())
    return copy
