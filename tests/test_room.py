"""Room, registry and group commit without a network: in-memory transports and a real
SQLite store, wrapped where a test needs to hold a commit back or make it fail."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map, Text

from crdt.authorship import trace_and_fold
from crdt.bounded import StoreTimeout
from crdt.committer import CommitTimeout, GroupCommitter
from crdt.peer import Peer
from crdt.protocol import (
    MERGE_AT_MOST,
    CloseCode,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_sync_step1,
    encode_sync_update,
)
from crdt.registry import LoadTimeout, RoomRegistry
from crdt.store import LoadedZoneLike
from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.repositories.updates import ZoneLog


class MemoryTransport:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed: tuple[int, str] | None = None

    async def send_bytes(self, data: bytes) -> None:
        self.frames.append(data)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def messages(self) -> list[object]:
        return [decode_message(f) for f in self.frames]


class ControlledStore:
    """A real ZoneLog whose writes can be held back, made to fail, and counted."""

    def __init__(self, inner: ZoneLog) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.release.set()
        self.loading = asyncio.Event()  # cleared: loads wait (a stalled database)
        self.loading.set()
        self.fail = False
        self.batches: list[int] = []
        self.loads = 0

    async def load(self, zone_id: int) -> LoadedZoneLike:
        self.loads += 1
        await asyncio.sleep(0.05)  # a slow load, so concurrent joins overlap
        await self.loading.wait()
        return await self.inner.load(zone_id)

    async def append_batch(
        self, items: Sequence[tuple[int, bytes]], authors: Sequence[int | None] | None = None
    ) -> list[int]:
        await self.release.wait()
        if self.fail:
            raise OSError("disk full")
        self.batches.append(len(items))
        return await self.inner.append_batch(items, authors)

    async def compact(
        self,
        zone_id: int,
        folded: Iterable[int],
        snapshot: bytes,
        items: Any = None,
        *,
        based_on: int | None = None,
        merge: Callable[[bytes], bytes] | None = None,
    ) -> int | None:
        return await self.inner.compact(zone_id, folded, snapshot, based_on=based_on, merge=merge)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ControlledStore]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'room.sqlite3'}"
    await upgrade(url)
    engine = create_engine(url)
    maker = make_sessionmaker(engine)
    from storage.repositories.plans import PlanRepo

    plans = PlanRepo(maker)
    municipality = await plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await plans.create_plan(municipality, "Plan for Åse", "Åse Ødegård")
    for key in ("a", "b", "c"):
        await plans.add_zone(plan.id, "area", key, f"Område {key} æøå", 0)
    yield ControlledStore(ZoneLog(maker))
    await engine.dispose()


async def _flush() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def edit(text: str, client_id: int = 1) -> bytes:
    doc: Doc = Doc(client_id=client_id)  # type: ignore[type-arg]
    doc.get("t", type=Text).insert(0, text)
    return doc.get_update()


async def test_concurrent_joins_share_one_load(store: ControlledStore) -> None:
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer, grace_seconds=0.05)
    peers = [Peer(MemoryTransport(), peer_id=str(i), can_write=True) for i in range(5)]
    rooms = await asyncio.gather(*(registry.join(3, p) for p in peers))
    assert store.loads == 1
    assert all(r is rooms[0] for r in rooms) and len(rooms[0].peers) == 5
    for p in peers:
        registry.leave(rooms[0], p)
        await p.stop()
    await asyncio.sleep(0.3)
    assert 3 not in registry.rooms  # unloaded after the grace period
    await committer.stop()


@pytest.mark.parametrize("one_writer", [True, False])
async def test_a_write_job_waits_its_turn_only_on_one_writer(
    store: ControlledStore, one_writer: bool
) -> None:
    """SQLite takes one writer: a compaction's write runs between the edits' batches, and an
    edit waits for it. PostgreSQL takes many: the write runs beside the batches, and the
    edits committed meanwhile never wait for it."""
    committer = GroupCommitter(store, one_writer=one_writer)
    committer.start()
    job_started, job_may_end = asyncio.Event(), asyncio.Event()

    async def slow_job() -> str:
        job_started.set()
        await job_may_end.wait()
        return "Åse Ødegård ✅"

    job = asyncio.ensure_future(committer.run_job(slow_job))
    await asyncio.wait_for(job_started.wait(), 10)
    edit_done = committer.submit(1, edit("Kari skriver æøå 📝"))
    if one_writer:
        await asyncio.sleep(0.2)
        assert not edit_done.done()  # behind the job
    else:
        assert await asyncio.wait_for(edit_done, 10) > 0
        assert not job.done()  # durable while the job still ran
    job_may_end.set()
    assert await asyncio.wait_for(job, 10) == "Åse Ødegård ✅"
    assert await asyncio.wait_for(edit_done, 10) > 0
    await committer.stop()


async def test_one_transaction_per_event_loop_turn(store: ControlledStore) -> None:
    committer = GroupCommitter(store)
    committer.start()
    futures = [
        committer.submit(zone, edit(f"æøå {i} 😀", i + 1)) for i, zone in enumerate([1, 2, 3] * 10)
    ]
    seqs = await asyncio.gather(*futures)
    assert store.batches == [30]
    assert seqs == sorted(seqs) and len(set(seqs)) == 30
    await committer.stop()


async def test_relay_and_newcomer_wait_until_the_update_is_durable(store: ControlledStore) -> None:
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    a_t, b_t, c_t = MemoryTransport(), MemoryTransport(), MemoryTransport()
    a = Peer(a_t, peer_id="a", can_write=True)
    b = Peer(b_t, peer_id="b", can_write=True)
    room = await registry.join(1, a)
    await registry.join(1, b)
    await _flush()
    store.release.clear()  # hold the disk back
    room.receive(a, encode_sync_update(edit("Jeg vil fullføre vg1 IKT 💻")))
    c = Peer(c_t, peer_id="c", can_write=True)
    await registry.join(1, c)
    room.receive(c, encode_sync_step1(b"\x00"))
    await _flush()
    assert not any(isinstance(m, SyncUpdate) for m in b_t.messages())  # not relayed yet
    assert not any(isinstance(m, SyncStep2) for m in c_t.messages())  # newcomer not answered yet
    store.release.set()
    await committer.flush()
    await _flush()
    assert any(isinstance(m, SyncUpdate) for m in b_t.messages())
    step2 = next(m for m in c_t.messages() if isinstance(m, SyncStep2))
    doc: Doc = Doc()  # type: ignore[type-arg]
    doc.apply_update(step2.update)
    assert str(doc.get("t", type=Text)) == "Jeg vil fullføre vg1 IKT 💻"
    assert not any(isinstance(m, SyncUpdate) for m in a_t.messages())  # never echoed to sender
    for p in (a, b, c):
        await p.stop()
    await committer.stop()


async def test_failed_write_sends_everyone_away_and_nothing_is_relayed(
    store: ControlledStore,
) -> None:
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    a_t, b_t = MemoryTransport(), MemoryTransport()
    a = Peer(a_t, peer_id="a", can_write=True)
    b = Peer(b_t, peer_id="b", can_write=True)
    room = await registry.join(2, a)
    await registry.join(2, b)
    store.fail = True
    room.receive(a, encode_sync_update(edit("dette når aldri disken 💾")))
    await committer.flush()
    await _flush()
    assert a_t.closed and a_t.closed[0] == CloseCode.TRY_AGAIN_LATER
    assert b_t.closed and b_t.closed[0] == CloseCode.TRY_AGAIN_LATER
    assert not any(isinstance(m, SyncUpdate) for m in b_t.messages())
    assert 2 not in registry.rooms  # the next join loads the durable state
    store.fail = False
    fresh = Peer(MemoryTransport(), peer_id="d", can_write=True)
    again = await registry.join(2, fresh)
    assert again is not room and str(again.doc.get("t", type=Text)) == ""
    for p in (a, b, fresh):
        await p.stop()
    await committer.stop()


async def test_server_edit_is_durable_before_every_peer_sees_it(store: ControlledStore) -> None:
    """A change the server makes itself (a restore, an action item turned into a measure)
    takes the same path as a peer's: logged first, then relayed to everyone, the room
    unloading afterwards when nobody is in it."""
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer, grace_seconds=0.05)
    a_t = MemoryTransport()
    a = Peer(a_t, peer_id="a", can_write=True)
    await registry.join(1, a)
    await _flush()
    store.release.clear()

    def write(doc: Doc) -> str:  # type: ignore[type-arg]
        doc.get("t", type=Text)[:] = "Tiltak fra møtet: svømming på fredag 🏊"
        return "skrevet"

    editing = asyncio.ensure_future(registry.edit(1, write, actor=None))
    await _flush()
    assert not editing.done()
    assert not any(isinstance(m, SyncUpdate) for m in a_t.messages())  # not durable yet
    store.release.set()
    assert await asyncio.wait_for(editing, 5) == "skrevet"
    await _flush()
    relayed = [m for m in a_t.messages() if isinstance(m, SyncUpdate)]
    assert len(relayed) == 1  # the server's change reaches the peer that was there
    reloaded = await store.inner.load(1)
    doc: Doc = Doc()  # type: ignore[type-arg]
    for _, update in reloaded.updates:
        doc.apply_update(update)
    assert str(doc.get("t", type=Text)) == "Tiltak fra møtet: svømming på fredag 🏊"

    registry.leave(registry.rooms[1], a)
    await a.stop()
    await registry.edit(2, write, actor=None)  # a zone nobody has open: loaded, edited, let go
    await asyncio.sleep(0.3)
    assert 1 not in registry.rooms and 2 not in registry.rooms
    await committer.stop()


async def test_server_edit_that_cannot_be_stored_raises_and_drops_the_room(
    store: ControlledStore,
) -> None:
    from crdt.room import RoomWriteFailed

    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    store.fail = True

    def write(doc: Doc) -> None:  # type: ignore[type-arg]
        doc.get("t", type=Text)[:] = "når aldri disken 💾"

    with pytest.raises(RoomWriteFailed):
        await registry.edit(3, write, actor=None)
    assert 3 not in registry.rooms
    store.fail = False
    await committer.stop()


async def test_a_long_tail_found_at_load_is_compacted_after_the_first_sync(
    store: ControlledStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crdt.registry

    monkeypatch.setattr(crdt.registry, "COMPACT_AFTER_LOAD_DELAY", 0.05)
    await store.inner.append_batch([(1, edit(f"linje {i} æøå 📝", i + 1)) for i in range(30)])
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer, compact_after=10)
    peer = Peer(MemoryTransport(), peer_id="a", can_write=True)
    room = await registry.join(1, peer)
    assert room.tail_length == 30  # not folded before the joiner is served
    for _ in range(200):
        if room.tail_length == 0:
            break
        await asyncio.sleep(0.02)
    stored = await store.inner.load(1)
    assert stored.snapshot is not None and stored.updates == ()
    await peer.stop()
    await committer.stop()


async def test_edits_committed_during_a_fold_start_the_next_compaction(
    store: ControlledStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a commit starts a compaction, and commits go on while one folds: those that
    pass the threshold then must not leave a long tail in a room that goes quiet."""
    import crdt.room

    folding = threading.Event()
    go_on = threading.Event()

    def held_fold(*args: Any) -> Any:
        folding.set()
        go_on.wait(30)
        return trace_and_fold(*args)

    monkeypatch.setattr(crdt.room, "trace_and_fold", held_fold)
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer, compact_after=10)
    worker, registry.fold_worker = registry.fold_worker, None  # type: ignore[assignment]
    # (so the room folds in a thread, through the held function above)
    writer = Peer(MemoryTransport(), peer_id="writer", can_write=True)
    room = await registry.join(1, writer, kind="content")
    ids = iter(range(100, 10_000))

    async def typed(n: int) -> None:
        for _ in range(n):
            text = f"Åse Ødegård {next(ids)} 🌱"
            room.receive(writer, encode_sync_update(edit(text, next(ids))))
            await committer.flush()
            await _flush()

    await typed(11)  # past 10: a compaction starts, and its fold is held
    assert await asyncio.to_thread(folding.wait, 30)
    await typed(15)  # committed while it folds: past the threshold again, then quiet
    go_on.set()
    for _ in range(1500):  # 30 s at most
        if room.tail_length == 0:
            break
        await asyncio.sleep(0.02)
    stored = await store.inner.load(1)
    assert stored.snapshot is not None and stored.updates == ()
    registry.fold_worker = worker
    await registry.close()
    await committer.stop()


async def test_read_waits_for_durability_and_falls_back_to_the_store(
    store: ControlledStore,
) -> None:
    """`RoomRegistry.read` is every reader's way in: a live room is read only once what it
    applied is durable (a copy: the reader cannot touch the live document), a zone not in
    memory is read from the store without loading a room, and a failed room is never read."""
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    peer = Peer(MemoryTransport(), peer_id="a", can_write=True)
    room = await registry.join(1, peer)
    store.release.clear()  # the next commit is held back
    room.receive(peer, encode_sync_update(edit("Åse Ødegård skriver 🌻")))
    reading = asyncio.ensure_future(registry.read(1))
    await _flush()
    assert not reading.done()  # not before the update is durable
    store.release.set()
    doc = await reading
    assert str(doc.get("t", type=Text)) == "Åse Ødegård skriver 🌻"
    doc.get("t", type=Text).insert(0, "kopi ")
    assert str(room.doc.get("t", type=Text)) == "Åse Ødegård skriver 🌻"

    loads = store.loads
    assert str((await registry.read(2)).get("t", type=Text)) == ""
    assert store.loads == loads + 1 and 2 not in registry.rooms

    store.fail = True  # the room fails: its document holds what is not on disk
    room.receive(peer, encode_sync_update(edit("aldri lagret 💾", client_id=7)))
    await committer.flush()
    await _flush()
    store.fail = False
    assert room.failed
    assert str((await registry.read(1)).get("t", type=Text)) == "Åse Ødegård skriver 🌻"
    await peer.stop()
    await committer.stop()


async def test_a_second_subscriber_to_a_hook_does_not_replace_the_first(
    store: ControlledStore,
) -> None:
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    seen: list[str] = []

    def broken(room: object) -> None:
        raise RuntimeError("one subscriber's bug")

    registry.loaded.subscribe(lambda room: seen.append("loaded"))
    registry.committed.subscribe(lambda room: seen.append("first"))
    registry.committed.subscribe(broken)  # must not keep the others, or the write, from going on
    registry.committed.subscribe(lambda room: seen.append("second"))
    peer = Peer(MemoryTransport(), peer_id="a", can_write=True)
    room = await registry.join(3, peer)
    room.receive(peer, encode_sync_update(edit("Blåbær 🫐")))
    await committer.flush()
    await _flush()
    assert seen == ["loaded", "first", "second"]
    assert not room.failed
    await peer.stop()
    await committer.stop()


# -- late join: the cached encoding of the whole document (issue 16) ----------------------


def typed(words: Sequence[str], client_id: int = 7) -> list[bytes]:
    """One person typing `words` one after another: one small update each, in order."""
    doc: Doc[Any] = Doc(client_id=client_id)
    text = doc.get("t", type=Text)
    updates: list[bytes] = []
    for word in words:
        before = doc.get_state()
        text += word  # appended whole: never a position into user text (DESIGN §9)
        updates.append(doc.get_update(before))
    return updates


async def _step2_of(registry: RoomRegistry, zone_id: int, name: str) -> tuple[Peer, Doc[Any]]:
    """A fresh client joins and asks for everything; its step 2 as a document."""
    transport = MemoryTransport()
    peer = Peer(transport, peer_id=name, can_write=True)
    room = await registry.join(zone_id, peer)
    room.receive(peer, encode_sync_step1(b"\x00"))
    await _flush()
    doc: Doc[Any] = Doc()
    for message in transport.messages():
        if isinstance(message, SyncStep2):
            doc.apply_update(message.update)
    return peer, doc


async def _durable(store: ControlledStore, zone_id: int) -> Doc[Any]:
    from crdt.zone_state import apply_stored

    doc: Doc[Any] = Doc()
    apply_stored(doc, await store.inner.load(zone_id))
    return doc


async def test_a_late_joiner_after_many_updates_gets_exactly_the_durable_state(
    store: ControlledStore,
) -> None:
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer, compact_after=250)  # compaction runs in between too
    writer = Peer(MemoryTransport(), peer_id="w", can_write=True)
    room = await registry.join(2, writer)
    words = [f"Åse Ødegård skriv {i} blåbær 😀 " for i in range(600)]
    for update in typed(words):
        room.receive(writer, encode_sync_update(update))
        if len(store.batches) % 7 == 0:
            await _flush()  # several group commits, not one
    await committer.flush()
    await room.settle()
    durable = await _durable(store, 2)
    assert str(durable.get("t", type=Text)) == "".join(words)
    joiners = []
    for name in ("late-1", "late-2", "late-3"):  # the second and third are served the cache
        peer, doc = await _step2_of(registry, 2, name)
        joiners.append(peer)
        assert str(doc.get("t", type=Text)) == "".join(words)
        assert doc.get_state() == durable.get_state()
    for p in (writer, *joiners):
        await p.stop()
    await committer.stop()


async def test_a_joiner_is_not_sent_a_pending_update_until_it_is_durable(
    store: ControlledStore,
) -> None:
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    first, second = typed(["Mål: gå på ski i Ålesund ⛷️", " og Tromsø 🎿"])
    writer = Peer(MemoryTransport(), peer_id="w", can_write=True)
    room = await registry.join(1, writer)
    room.receive(writer, encode_sync_update(first))
    await committer.flush()
    await _flush()
    early, doc = await _step2_of(registry, 1, "early")  # fills the cache
    assert str(doc.get("t", type=Text)) == "Mål: gå på ski i Ålesund ⛷️"
    store.release.clear()  # hold the disk back
    room.receive(writer, encode_sync_update(second))
    waiting_t = MemoryTransport()
    waiting = Peer(waiting_t, peer_id="waiting", can_write=True)
    await registry.join(1, waiting)
    room.receive(waiting, encode_sync_step1(b"\x00"))
    await _flush()
    assert not any(isinstance(m, SyncStep2) for m in waiting_t.messages())  # not durable yet
    assert str((await _durable(store, 1)).get("t", type=Text)) == "Mål: gå på ski i Ålesund ⛷️"
    store.release.set()
    await committer.flush()
    await _flush()
    step2 = [m for m in waiting_t.messages() if isinstance(m, SyncStep2)]
    assert len(step2) == 1
    got: Doc[Any] = Doc()
    got.apply_update(step2[0].update)
    assert str(got.get("t", type=Text)) == "Mål: gå på ski i Ålesund ⛷️ og Tromsø 🎿"
    for p in (writer, early, waiting):
        await p.stop()
    await committer.stop()


async def test_each_update_invalidates_the_cached_state(store: ControlledStore) -> None:
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    words = ["Tiltak: leksehjelp 📚", " hver tirsdag", " med Øystein Æsøy 👍"]
    writer = Peer(MemoryTransport(), peer_id="w", can_write=True)
    room = await registry.join(3, writer)
    peers = [writer]
    for i, update in enumerate(typed(words)):
        room.receive(writer, encode_sync_update(update))
        await committer.flush()
        await _flush()
        for n in range(2):  # the first join after the change encodes, the second reuses it
            peer, doc = await _step2_of(registry, 3, f"j{i}-{n}")
            peers.append(peer)
            assert str(doc.get("t", type=Text)) == "".join(words[: i + 1])
            assert isinstance(peer.transport, MemoryTransport)
            step1 = [m for m in peer.transport.messages() if isinstance(m, SyncStep1)]
            assert step1 and step1[-1].state_vector == room.doc.get_state()
    # The server's own edits change the document too.
    await room.edit(lambda doc: doc.get("felt", type=Map).__setitem__("status", "Pågår ✅"))
    peer, doc = await _step2_of(registry, 3, "after-edit")
    peers.append(peer)
    assert doc.get("felt", type=Map).to_py() == {"status": "Pågår ✅"}
    assert str(doc.get("t", type=Text)) == "".join(words)
    for p in peers:
        await p.stop()
    await committer.stop()


class _Writer:
    """One client's document: each call is its next update (same client id, next clock)."""

    def __init__(self, client_id: int) -> None:
        self.doc: Doc = Doc(client_id=client_id)  # type: ignore[type-arg]
        self.text = self.doc.get("t", type=Text)

    def type(self, words: str) -> bytes:
        before = self.doc.get_state()
        self.text.insert(len(str(self.text).encode()), words)  # at the end (bytes: DESIGN §9)
        return self.doc.get_update(before)


def _doc_of(*updates: bytes) -> Doc:  # type: ignore[type-arg]
    doc: Doc = Doc()  # type: ignore[type-arg]
    for update in updates:
        doc.apply_update(update)
    return doc


async def test_one_durable_batch_reaches_each_peer_as_one_frame_never_before_its_commit(
    store: ControlledStore,
) -> None:
    """The updates committed in one batch are relayed as ONE merged sync-update frame per
    peer (encoded once: the same bytes for every peer that wrote none of them), holding
    exactly the batch's updates; a writer in the batch gets the others' only; nothing goes
    out before the batch is durable."""
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    transports = {name: MemoryTransport() for name in ("åse", "øyvind", "ærlig", "tilskuer", "to")}
    peers = {name: Peer(t, peer_id=name, can_write=True) for name, t in transports.items()}
    room = await registry.join(1, peers["åse"])
    for name in ("øyvind", "ærlig", "tilskuer", "to"):
        await registry.join(1, peers[name])
    await _flush()
    before = {name: len(t.frames) for name, t in transports.items()}
    ase, oyvind, aerlig = _Writer(11), _Writer(12), _Writer(13)
    store.release.clear()  # hold the batch back
    sent = {
        "åse": [ase.type("Åse Ødegård skriver 🌻 "), ase.type("og mer æøå ")],
        "øyvind": [oyvind.type("Øyvind svarer 😀 ")],
        "ærlig": [aerlig.type("Ærlig talt 🙂 ")],
    }
    for name, updates in sent.items():
        for update in updates:
            room.receive(peers[name], encode_sync_update(update))
    await _flush()
    for name, t in transports.items():  # not before the commit
        assert not any(isinstance(decode_message(f), SyncUpdate) for f in t.frames[before[name] :])
    store.release.set()
    await committer.flush()
    await _flush()
    assert store.batches[-1] == 4  # one durable batch

    def relayed(name: str) -> list[bytes]:
        frames = transports[name].frames[before[name] :]
        return [f for f in frames if isinstance(decode_message(f), SyncUpdate)]

    everything = [u for updates in sent.values() for u in updates]
    expected_all = _doc_of(*everything)
    # Those who wrote nothing in the batch: one frame each, the very same bytes.
    watcher_frames = relayed("tilskuer")
    assert len(watcher_frames) == 1 and relayed("to") == watcher_frames
    merged = decode_message(watcher_frames[0])
    assert isinstance(merged, SyncUpdate)
    got = _doc_of(merged.update)
    assert got.get_state() == expected_all.get_state()
    assert str(got.get("t", type=Text)) == str(expected_all.get("t", type=Text))
    assert "Åse Ødegård skriver 🌻" in str(got.get("t", type=Text))
    # Each writer: one frame with the others' updates, never its own.
    for name in sent:
        frames = relayed(name)
        assert len(frames) == 1, name
        message = decode_message(frames[0])
        assert isinstance(message, SyncUpdate)
        others = [u for other, updates in sent.items() if other != name for u in updates]
        expected = _doc_of(*others)
        assert _doc_of(message.update).get_state() == expected.get_state(), name
    assert room.stats.relayed >= 4
    assert room.stats.frames == 5  # one per peer for the batch
    assert room.stats.deliveries == 4 * 4  # (update, receiver) pairs: 4 updates, 4 others
    for p in peers.values():
        await p.stop()
    await committer.stop()


async def test_a_backlogged_batch_goes_out_in_merges_of_at_most_merge_at_most_updates(
    store: ControlledStore,
) -> None:
    """A batch longer than MERGE_AT_MOST (a room behind its writers) is relayed as one frame
    per stretch of that many, in order: a merge of them all would cost more per update the
    longer the batch (crdt/protocol.py). Every peer still gets every update but its own."""
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    transports = {name: MemoryTransport() for name in ("åse", "øyvind", "tilskuer")}
    peers = {name: Peer(t, peer_id=name, can_write=True) for name, t in transports.items()}
    room = await registry.join(1, peers["åse"])
    for name in ("øyvind", "tilskuer"):
        await registry.join(1, peers[name])
    await _flush()
    before = {name: len(t.frames) for name, t in transports.items()}
    writers = {"åse": _Writer(21), "øyvind": _Writer(22)}
    sent: dict[str, list[bytes]] = {name: [] for name in writers}
    store.release.clear()  # one durable batch of them all
    for i in range(2 * MERGE_AT_MOST + 10):
        name = "åse" if i % 3 else "øyvind"
        update = writers[name].type(f"{name} {i} æøå 🫐 ")
        sent[name].append(update)
        room.receive(peers[name], encode_sync_update(update))
    await _flush()
    store.release.set()
    await committer.flush()
    await _flush()
    assert store.batches[-1] == 2 * MERGE_AT_MOST + 10

    def relayed(name: str) -> list[bytes]:
        messages = [decode_message(f) for f in transports[name].frames[before[name] :]]
        return [m.update for m in messages if isinstance(m, SyncUpdate)]

    everything = [u for updates in sent.values() for u in updates]
    assert len(relayed("tilskuer")) == 3  # 50 + 50 + 10
    assert _doc_of(*relayed("tilskuer")).get_state() == _doc_of(*everything).get_state()
    for name, own in sent.items():
        frames = relayed(name)
        assert len(frames) == 3, name  # each stretch holds the other writer's updates too
        others = [u for u in everything if u not in own]
        assert _doc_of(*frames).get_state() == _doc_of(*others).get_state(), name
    assert room.stats.deliveries == len(everything) * 3 - len(everything)
    for p in peers.values():
        await p.stop()
    await committer.stop()


async def test_a_load_past_the_timeout_fails_every_joiner_and_leaves_nothing_behind(
    store: ControlledStore,
) -> None:
    """A zone's load that the store does not answer (a stalled database) gives up after the
    committer's bound, like a commit: every concurrent joiner hears LoadTimeout (the endpoint
    closes it with 1013), no room or pending load is kept, and the read left running, once it
    returns, makes no room either; the next join loads the zone afresh, every durable edit in."""
    committer = GroupCommitter(store, commit_timeout=0.3)
    committer.start()
    assert await committer.submit(1, edit("Åse Ødegård: blåbær 🫐")) > 0
    registry = RoomRegistry(committer, grace_seconds=0.05)
    store.loading.clear()
    peers = [Peer(MemoryTransport(), peer_id=str(i), can_write=True) for i in range(3)]
    joins = await asyncio.gather(
        *(registry.join(1, peer) for peer in peers), return_exceptions=True
    )
    assert all(isinstance(result, LoadTimeout) for result in joins), joins
    assert store.loads == 1  # one load, shared, failed for all
    assert len(registry) == 0 and not registry._loading
    assert committer.bound.timeouts["load"] == 1 and committer.bound.left_running == 1
    store.loading.set()  # the database answers again: the abandoned read ends, dropped
    for _ in range(200):
        if committer.bound.left_running == 0:
            break
        await asyncio.sleep(0.02)
    assert committer.bound.left_running == 0 and len(registry) == 0
    room = await registry.join(1, peers[0])
    assert store.loads == 2 and str(room.doc.get("t", type=Text)) == "Åse Ødegård: blåbær 🫐"
    registry.leave(room, peers[0])
    await registry.close()
    await committer.stop()


async def test_a_pages_read_of_a_zone_not_in_memory_gives_up_after_the_bound(
    store: ControlledStore,
) -> None:
    """A page reading a zone no room holds, from a store that does not answer, gets
    StoreTimeout (an OSError: 503, "try again") after the committer's bound instead of
    holding its request for ever; once the store answers, the next read has every edit."""
    committer = GroupCommitter(store, commit_timeout=0.3)
    committer.start()
    assert await committer.submit(1, edit("Kari Nilsen: ærlig og tøff 💪")) > 0
    registry = RoomRegistry(committer)
    store.loading.clear()
    with pytest.raises(StoreTimeout):  # not wait_for's own TimeoutError: the bound's
        await asyncio.wait_for(registry.read(1), 30)
    assert committer.bound.timeouts["read"] == 1 and len(registry) == 0
    store.loading.set()
    doc = await registry.read(1)
    assert str(doc.get("t", type=Text)) == "Kari Nilsen: ærlig og tøff 💪"
    await registry.close()
    await committer.stop()


async def test_a_commit_past_the_timeout_fails_its_batch_and_a_late_store_is_announced(
    store: ControlledStore,
) -> None:
    """A store that does not answer (a database behind a partition): the batch fails after
    `commit_timeout` with CommitTimeout, so its rooms can send their writers away; the outcome
    hook hears it (the health gauge). The write left running is stored once the store answers
    again, and `late_commit` names its zone (never relayed: the other nodes read it again)."""
    committer = GroupCommitter(store, commit_timeout=0.3)
    committer.start()
    outcomes: list[BaseException | None] = []
    late: list[frozenset[int]] = []
    committer.outcome.subscribe(outcomes.append)
    committer.late_commit.subscribe(late.append)
    doc: Doc = Doc(client_id=11)  # type: ignore[type-arg]
    doc.get("t", type=Text).insert(0, "Åse Ødegård skriver 😀")
    store.release.clear()
    fut = committer.submit(1, doc.get_update())
    await asyncio.wait([fut], timeout=10)
    assert isinstance(fut.exception(), CommitTimeout)
    assert len(outcomes) == 1 and isinstance(outcomes[0], CommitTimeout)
    assert committer.timeouts == 1 and late == []
    store.release.set()  # the store answers again: the abandoned write finishes
    for _ in range(200):
        if late:
            break
        await asyncio.sleep(0.02)
    assert late == [frozenset({1})]
    stored = await store.inner.load(1)
    assert len(stored.updates) == 1  # stored after all, and said so
    ok = committer.submit(1, doc.get_update())
    assert await ok > 0 and outcomes[-1] is None  # and the next batch works as before
    # A write job (a compaction's) that hangs gives up too, and batches after it go on.
    never = asyncio.Event()
    with pytest.raises(CommitTimeout):
        await committer.run_exclusive(never.wait)
    doc.get("t", type=Text).insert(0, "Kari 🧭 ")
    assert await committer.submit(1, doc.get_update()) > 0
    await committer.stop()
