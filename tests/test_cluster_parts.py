"""The cluster's parts without a network: the wire format between nodes, the ownership of
another node's presence, and a room's remote path (applied and relayed, never stored again;
published only after the local commit) against a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from crdt.awareness import AwarenessEntry, AwarenessStates, RemoteNode
from crdt.committer import GroupCommitter
from crdt.fanout import ForwardRef
from crdt.lib0 import MalformedFrame
from crdt.peer import Peer
from crdt.protocol import (
    Awareness,
    SyncStep2,
    SyncUpdate,
    encode_awareness,
    encode_sync_step1,
    encode_sync_update,
)
from crdt.registry import RoomRegistry
from crdt.room import Room
from server.cluster import wire
from server.cluster.bus import Bus
from server.cluster.zones import RoomFanout
from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.repositories.plans import PlanRepo
from storage.repositories.updates import ZoneLog
from tests.support.cluster import redis_server
from tests.support.waiting import wait_for
from tests.test_room import ControlledStore, MemoryTransport, _flush, edit

NAME = "Åse Ødegård 😀"


def _state(name: str) -> str:
    return json.dumps({"user": {"name": name}, "cursor": {"anchor": 3}}, ensure_ascii=False)


def test_a_message_between_nodes_reads_back_exactly() -> None:
    records = [
        wire.update_record(41, "Blåbær æøå 🫐".encode()),
        wire.awareness_record([AwarenessEntry(7, 3, _state(NAME)), AwarenessEntry(8, 2, "null")]),
        wire.QUERY,
        wire.CATCH_UP,
        wire.forward_record("node-Ødegård-😀", 9, 314, "Tiltak: svømming 🏊 æøå".encode()),
        wire.forward_record("node-Ødegård-😀", 10, None, b"\x00\x00"),
        wire.forwarded_record("node-æøå", 9, 42, "Tiltak: svømming 🏊 æøå".encode()),
        wire.forwarded_record("node-æøå", 11, 0, b""),
        wire.HERE,
        wire.LEAVE,
    ]
    message = wire.decode(wire.encode("node-æøå", records, sent_at=1_765_000_000.123456))
    assert message.node == "node-æøå"
    assert message.records == records
    assert message.sent_at == pytest.approx(1_765_000_000.123456, abs=1e-6)
    # The lag is the receiver's clock minus the send time, never below zero (clock skew).
    assert message.lag(now=1_765_000_000.373456) == pytest.approx(0.25)
    assert message.lag(now=1_765_000_000.0) == 0.0


def test_a_message_carries_its_send_time_and_version_1_is_still_read() -> None:
    before = time.time()
    message = wire.decode(wire.encode("vm-Åse", [wire.QUERY]))
    after = time.time()
    assert message.sent_at is not None and before - 1e-6 <= message.sent_at <= after + 1e-6
    lag = message.lag()
    assert lag is not None and 0.0 <= lag < 60
    # A node not upgraded yet writes version 1: no send time, no lag, the records as ever.
    old = b"\x01" + bytes([len("vm-Ø".encode())]) + "vm-Ø".encode() + b"\x01\x03"
    message = wire.decode(old)
    assert (message.node, message.sent_at, message.records) == ("vm-Ø", None, [wire.QUERY])
    assert message.lag() is None


def test_a_message_without_forwarding_is_written_as_version_2() -> None:
    """A cluster that does not forward is upgraded one node at a time, as before: a version 2
    node reads everything such a node writes, and only forwarding's records need version 3."""
    plain = wire.encode("vm-Åse", [wire.update_record(3, "æøå 😀".encode()), wire.QUERY])
    assert plain[0] == 2
    forwarding = wire.encode("vm-Åse", [wire.QUERY, wire.HERE])
    assert forwarding[0] == 3
    assert wire.decode(plain).records[1] == wire.decode(forwarding).records[0] == wire.QUERY


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x04\x01a\x00\x00",  # another version
        wire.encode("a", [wire.update_record(1, b"xyz")])[:-1],  # cut short
        wire.encode("a", [wire.QUERY]) + b"\x00",  # trailing bytes
        b"\x01\x01a\x01\x09",  # a record kind nobody writes
        b"\x02\x01a\x00\x01\x09",  # the same in version 2
        b"\x03\x01a\x00\x01\x09",  # and in version 3
        b"\x02\x01a\x00\x01\x07",  # a kind version 3 added, in version 2
    ],
    # Named, not shown: two of them carry the send time, and pytest-xdist's workers must
    # collect the same ids.
    ids=[
        "empty",
        "another-version",
        "cut-short",
        "trailing-bytes",
        "unknown-kind",
        "unknown-kind-v2",
        "unknown-kind-v3",
        "v3-kind-in-v2",
    ],
)
def test_a_malformed_message_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedFrame):
        wire.decode(data)


def test_another_nodes_presence_is_that_nodes_own() -> None:
    states = AwarenessStates(max_client_ids_per_owner=2)
    node_a, node_b = RemoteNode("a"), RemoteNode("b")
    peer = object()
    # A node holds many clients: no cap per owner for it.
    accepted, refused = states.apply(
        node_a, [AwarenessEntry(i, 1, _state(NAME)) for i in range(20)]
    )
    assert len(accepted) == 20 and not refused
    # A crafted peer here cannot change or remove a client of node A, whatever the clock,
    # and neither can another node.
    for owner in (peer, node_b):
        accepted, refused = states.apply(
            owner, [AwarenessEntry(3, 99, _state("Ola Nordmann")), AwarenessEntry(4, 99, "null")]
        )
        assert not accepted and len(refused) == 2
    assert json.loads(states.snapshot()[3].state_json)["user"]["name"] == NAME
    # This node tells others only its own peers' states.
    states.apply(peer, [AwarenessEntry(100, 1, _state("Kari Nilsen"))])
    assert [e.client_id for e in states.snapshot(local_only=True)] == [100]
    # Node A says a client left: the id is forgotten at once, not kept owned.
    accepted, _ = states.apply(node_a, [AwarenessEntry(5, 2, "null")])
    assert accepted and states.owner_of(5) is None
    # Node A goes (goodbye or silence): its clients leave with it.
    removals = states.remove_owner(node_a)
    assert len(removals) == 19 and all(r.removed for r in removals)
    assert [e.client_id for e in states.snapshot()] == [100]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ControlledStore]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cluster.sqlite3'}"
    await upgrade(url)
    engine = create_engine(url)
    plans = PlanRepo(make_sessionmaker(engine))
    plan = await plans.create_plan(
        await plans.get_or_create_municipality("Eksempelvik kommune"), "Plan", NAME
    )
    await plans.add_zone(plan.id, "area", "skole", "Skole og læring", 0)
    yield ControlledStore(ZoneLog(make_sessionmaker(engine)))
    await engine.dispose()


class RecordingLink:
    """crdt.fanout.RoomLink that keeps what the room would send to the other nodes."""

    def __init__(self) -> None:
        self.opened: list[int] = []
        self.sent: list[tuple[int, int, bytes]] = []
        self.presence: list[list[AwarenessEntry]] = []
        self.grant = True  # what Redis says to a compaction claim
        self.claims: list[int] = []
        self.released: list[int] = []
        self.released_once = asyncio.Event()

    async def open(self, zone_id: int) -> None:
        self.opened.append(zone_id)

    def bind(self, room: Room) -> None:
        pass

    def close(self, zone_id: int) -> None:
        pass

    def committed(
        self, zone_id: int, seq: int, update: bytes, forwarded: ForwardRef | None = None
    ) -> None:
        self.sent.append((zone_id, seq, update))

    def forward(
        self, zone_id: int, update: bytes, author: int | None
    ) -> asyncio.Future[int] | None:
        return None  # this node commits every zone

    def awareness(self, zone_id: int, entries: Sequence[AwarenessEntry]) -> None:
        self.presence.append(list(entries))

    async def claim_compaction(self, zone_id: int) -> bool:
        self.claims.append(zone_id)
        return self.grant

    def release_compaction(self, zone_id: int) -> None:
        self.released.append(zone_id)
        self.released_once.set()


def _other_node_edits(*texts: str, client_id: int = 4242) -> list[bytes]:
    doc: Doc = Doc(client_id=client_id)  # type: ignore[type-arg]
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for text in texts:
        doc.get("t", type=Text).insert(0, text)
    return updates


async def test_a_room_publishes_after_its_commit_and_relays_remote_updates_unstored(
    store: ControlledStore,
) -> None:
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    link = RecordingLink()
    registry.link = link
    here_t, writer_t = MemoryTransport(), MemoryTransport()
    here = Peer(here_t, peer_id="here", can_write=True)
    writer = Peer(writer_t, peer_id="writer", can_write=True)
    room = await registry.join(1, here)
    await registry.join(1, writer)
    assert link.opened == [1]

    # Local: nothing goes to the other nodes before the commit is durable.
    store.release.clear()
    doc: Doc = Doc(client_id=7)  # type: ignore[type-arg]
    doc.get("t", type=Text).insert(0, "Lokal endring æøå ")
    room.receive(writer, encode_sync_update(doc.get_update()))
    await _flush()
    assert link.sent == []
    store.release.set()
    await committer.flush()
    await _flush()
    assert [seq for _, seq, _ in link.sent] == [room.committed_seq]

    # Remote: applied and relayed to every local peer, never stored, and foldable here. The
    # updates of one message go to each peer as ONE frame (their merge): one send, not two.
    first, second = _other_node_edits("Fra node B 🧭 ", "og mer ø ")
    batches, tail = len(store.batches), room.tail_length
    here_t.frames.clear()
    assert room.apply_remote([(10_001, first), (10_002, second)])
    await _flush()
    relayed = [m for m in here_t.messages() if isinstance(m, SyncUpdate)]
    assert len(relayed) == 1
    seen: Doc = Doc()  # type: ignore[type-arg]
    seen.apply_update(relayed[0].update)
    assert str(seen.get("t", type=Text)) == "og mer ø Fra node B 🧭 "
    assert len(store.batches) == batches and len(link.sent) == 1  # not stored, not sent on
    assert room.tail_length == tail + 2
    assert "og mer ø Fra node B 🧭 " in str(room.doc.get("t", type=Text))

    # A duplicate changes nothing and is not relayed again.
    here_t.frames.clear()
    assert room.apply_remote([(10_001, first)])
    await _flush()
    assert not here_t.frames and room.tail_length == tail + 2

    # One that waits for an update this node never got: reported, never folded from here.
    gap = _other_node_edits("Tapt 📦 ", "etter det tapte æøå ", client_id=5151)[1]
    assert not room.apply_remote([(10_010, gap)])
    assert room.tail_length == tail + 2

    # Presence: a peer's goes to the other nodes; another node's reaches the peers here.
    entry = AwarenessEntry(55, 1, _state("forfalsket"))
    room.receive(here, encode_awareness([entry]))
    assert [e.client_id for e in link.presence[-1]] == [55]
    here_t.frames.clear()
    room.apply_remote_awareness(RemoteNode("b"), [AwarenessEntry(66, 2, _state(NAME))])
    await _flush()
    assert any(isinstance(m, Awareness) for m in here_t.messages())
    registry.leave(room, here)
    registry.leave(room, writer)
    await here.stop()
    await writer.stop()
    await committer.stop()


class SlowToListenLink(RecordingLink):
    """A subscription Redis has not confirmed yet: `open` returns when `confirmed` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.confirmed = asyncio.Event()

    async def open(self, zone_id: int) -> None:
        await super().open(zone_id)
        await self.confirmed.wait()


async def test_a_node_listens_for_a_zone_before_it_reads_it(store: ControlledStore) -> None:
    """Subscribed first, read after (DESIGN §6): an update another node commits while this
    one reads the zone arrives on the channel, never between the two."""
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    link = SlowToListenLink()
    registry.link = link
    peer = Peer(MemoryTransport(), peer_id="Åse Ødegård 😀", can_write=True)
    joining = asyncio.ensure_future(registry.join(1, peer))
    await wait_for(lambda: link.opened == [1], what="the subscription asked for")
    for _ in range(20):
        await asyncio.sleep(0.01)
        assert store.loads == 0 and not joining.done()  # no read before it listens
    link.confirmed.set()
    room = await joining
    assert store.loads == 1 and registry.rooms[1] is room
    registry.leave(room, peer)
    await peer.stop()
    await committer.stop()


async def test_catching_up_from_the_store_brings_what_a_lost_message_held(
    store: ControlledStore,
) -> None:
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    registry.link = RecordingLink()
    peer_t = MemoryTransport()
    peer = Peer(peer_t, peer_id="p", can_write=True)
    room = await registry.join(1, peer)
    first, second = _other_node_edits("Første ✅ ", "andre æøå ")
    # Node B stored both, but only the second reached us: it cannot integrate yet.
    seqs = await store.inner.append_batch([(1, first), (1, second)])
    assert not room.apply_remote([(seqs[1], second)])
    room.catch_up(await store.load(1))
    await asyncio.sleep(0)
    assert str(room.doc.get("t", type=Text)) == "andre æøå Første ✅ "
    assert room.tail_length == 2  # both are now foldable here
    registry.leave(room, peer)
    await peer.stop()
    await committer.stop()


async def test_a_node_heard_only_in_a_room_still_times_out() -> None:
    """A node that spoke in a room before this node heard its first heartbeat (it had just
    started) and was then killed: its clients must still leave this node's presence. Found by
    test_cluster's SIGKILL case, which failed when the kill fell inside that first second."""
    from server.cluster.bus import Bus
    from server.cluster.zones import RoomFanout

    bus = Bus("redis://127.0.0.1:1/0", "vm-her", heartbeat=0.02, node_timeout=0.1)
    fanout = RoomFanout(bus, store=None)  # type: ignore[arg-type]  # no catch-up here
    gone: list[str] = []
    bus.node_gone.subscribe(gone.append)
    fanout._owner("vm-der-åse-😀")  # an awareness message from that node created its owner
    assert "vm-der-åse-😀" in bus.last_seen
    beating = asyncio.get_running_loop().create_task(bus._beat_forever())
    try:
        for _ in range(500):
            if gone:
                break
            await asyncio.sleep(0.01)
    finally:
        beating.cancel()
    assert gone == ["vm-der-åse-😀"]


async def test_a_shared_zone_is_compacted_by_the_node_holding_its_claim(
    store: ControlledStore,
) -> None:
    """Every node holding a zone holds all its updates and reaches the threshold with the
    others; only the node Redis grants the claim compacts. One refused asks again only after
    as many updates again, and gives the claim back when its compaction is over."""
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer, compact_after=10)
    link = RecordingLink()
    link.grant = False  # another node is compacting the zone
    registry.link = link
    writer = Peer(MemoryTransport(), peer_id="writer", can_write=True)
    room = await registry.join(1, writer)

    async def typed(n: int) -> None:
        for _ in range(n):
            room.receive(writer, encode_sync_update(edit(f"Åse Ødegård {next(ids)} 🌱", next(ids))))
            await committer.flush()
            await _flush()

    ids = iter(range(100, 10_000))
    await typed(12)  # past 10: the claim is asked for and refused
    assert link.claims == [1]
    assert len((await store.inner.load(1)).updates) == 12  # nothing compacted here
    await typed(8)  # 20 updates: not asked again yet (refused at 11, next at 21)
    assert link.claims == [1] and link.released == []
    link.grant = True
    await typed(2)
    async with asyncio.timeout(30):
        await link.released_once.wait()
    assert link.claims == [1, 1] and link.released == [1]
    stored = await store.inner.load(1)
    assert stored.snapshot is not None and len(stored.updates) < 22
    await registry.close()
    await committer.stop()


async def test_one_node_at_a_time_holds_a_zones_compaction_claim(tmp_path: Path) -> None:
    """The claim is Redis's SET NX PX naming the node: a second node is refused until the
    first gives it back, and a giving back never frees another node's claim. With Redis
    gone, a claim is granted: compaction is safe with several writers, the claim only saves
    doing it twice."""
    with redis_server(tmp_path / "redis") as redis:
        here, there = Bus(redis.url, "node-her-åse"), Bus(redis.url, "node-der-ødegård-😀")
        here_zones = RoomFanout(here, store=None)  # type: ignore[arg-type]  # claims only
        there_zones = RoomFanout(there, store=None)  # type: ignore[arg-type]

        async def released(zones: RoomFanout, zone_id: int) -> None:
            zones.release_compaction(zone_id)
            await asyncio.gather(*zones._releases)  # noqa: SLF001

        try:
            assert await here_zones.claim_compaction(7)
            assert not await there_zones.claim_compaction(7)
            assert await there_zones.claim_compaction(8)  # another zone: a claim of its own
            await released(there_zones, 7)  # not theirs: changes nothing
            assert not await there_zones.claim_compaction(7)
            await released(here_zones, 7)
            assert await there_zones.claim_compaction(7)
            assert there_zones.compaction_claims_refused == 2
            redis.stop()
            assert await here_zones.claim_compaction(9)  # unanswered: compact anyway
            await released(here_zones, 9)  # and the release fails quietly
        finally:
            await here.redis.aclose()
            await there.redis.aclose()


class ForwardingLink(RecordingLink):
    """A RecordingLink whose zone is committed by another node: every local edit is forwarded,
    and the test answers for that node."""

    def __init__(self) -> None:
        super().__init__()
        self.forwarded: list[tuple[bytes, int | None, asyncio.Future[int]]] = []

    def forward(
        self, zone_id: int, update: bytes, author: int | None
    ) -> asyncio.Future[int] | None:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.forwarded.append((update, author, fut))
        return fut


async def test_a_forwarded_edit_is_relayed_here_only_once_durable_there_or_here(
    store: ControlledStore,
) -> None:
    """Until the committing node says a forwarded edit is durable, nobody here gets it: not
    the others in the room, not a joiner's first sync. Answered, it is relayed, with the seq
    that node gave it and never logged here; unanswered, this node logs it itself, under the
    writer, and publishes it like its own."""
    committer = GroupCommitter(store)
    committer.start()
    registry = RoomRegistry(committer)
    link = ForwardingLink()
    registry.link = link
    other_t, writer_t = MemoryTransport(), MemoryTransport()
    other = Peer(other_t, peer_id="other", can_write=True)
    writer = Peer(writer_t, peer_id="writer", can_write=True, user_id=7)
    room = await registry.join(1, other)
    await registry.join(1, writer)
    batches = len(store.batches)

    room.receive(writer, encode_sync_update(edit("Åse Ødegård skriver 😀 ", 31)))
    await _flush()
    ((update, author, answer),) = link.forwarded
    assert author == 7 and link.sent == []
    other_t.frames.clear()
    joiner_t = MemoryTransport()
    joiner = Peer(joiner_t, peer_id="joiner", can_write=False)
    await registry.join(1, joiner)
    room.receive(joiner, encode_sync_step1(b"\x00"))
    await _flush()
    assert not [m for m in other_t.messages() if isinstance(m, SyncUpdate)]
    assert not [m for m in joiner_t.messages() if isinstance(m, SyncStep2)]

    room.forward_returned(4711, update)  # the committing node's answer, as the fan-out gives it
    answer.set_result(4711)
    await _flush()
    relayed = [m for m in other_t.messages() if isinstance(m, SyncUpdate)]
    assert len(relayed) == 1 and relayed[0].update == update
    assert [m for m in joiner_t.messages() if isinstance(m, SyncStep2)]
    assert room.committed_seq == 4711 and 4711 in room._unfolded  # noqa: SLF001
    assert len(store.batches) == batches and link.sent == []  # not logged nor published here

    # Unanswered: logged here under the writer, then relayed and published as this node's.
    room.receive(writer, encode_sync_update(edit("og så Kari Nilsen ✅ ", 32)))
    await _flush()
    _, _, unanswered = link.forwarded[-1]
    other_t.frames.clear()
    unanswered.set_exception(RuntimeError("no answer"))
    await _flush()  # the fall-back commit is submitted
    await committer.flush()
    await _flush()
    stored = await store.inner.load(1)
    assert await _authors(store, 1) == [7]
    assert len(stored.updates) == 1
    assert [m for m in other_t.messages() if isinstance(m, SyncUpdate)]
    assert [seq for _, seq, _ in link.sent] == [stored.updates[0][0]]
    for peer in (other, writer, joiner):
        registry.leave(room, peer)
        await peer.stop()
    await committer.stop()


async def _authors(store: ControlledStore, zone_id: int) -> list[int | None]:
    return [row.user_id for row in (await store.inner.changes(zone_id)).tail]


async def test_edits_go_to_the_lowest_node_holding_the_zone_and_come_back_when_it_is_silent() -> (
    None
):
    """The fan-out's side of forwarding, without Redis: to whom (the lowest id heard on the
    zone's channel, never a node that said it left or went quiet), and when this node takes
    its edits back (no answer in time: every one waiting for that node at once, in order, so
    none of a writer's later edits is logged before an earlier one)."""
    bus = Bus("redis://127.0.0.1:1/0", "vm-b-Ødegård")
    bus.connected = True  # as if subscribed: nothing here reaches Redis
    off = RoomFanout(bus, store=None)  # type: ignore[arg-type]  # no catch-up here
    fanout = RoomFanout(bus, store=None, forward=True)  # type: ignore[arg-type]
    for zones in (off, fanout):
        zones._rooms[1] = None  # noqa: SLF001  # open, still loading: messages are kept
    update = edit("Tiltak for Åse 🏊 ", 77)

    def hear(zones: RoomFanout, node: str, *records: wire.Record) -> None:
        zones._received(1, wire.encode(node, list(records)))  # noqa: SLF001

    hear(off, "vm-a-åse", wire.HERE)
    assert off.forward(1, update, 7) is None  # SAMPLAN_CLUSTER_FORWARD_EDITS is off
    assert fanout.forward(1, update, 7) is None  # nobody else holds the zone: commit here
    hear(fanout, "vm-c-😀", wire.HERE)
    assert fanout.forward(1, update, 7) is None  # the others are all above this node
    hear(fanout, "vm-a-åse", wire.HERE)
    waiting = [fanout.forward(1, update, author) for author in (7, 8, None)]
    assert all(fut is not None for fut in waiting)
    sent = [r for r in fanout._outbox[1] if r.kind == wire.Kind.FORWARD]  # noqa: SLF001
    assert [(r.node, r.author, r.data) for r in sent] == [
        ("vm-a-åse", 7, update),
        ("vm-a-åse", 8, update),
        ("vm-a-åse", None, update),
    ]
    failed: list[int] = []
    for i, fut in enumerate(waiting):
        assert fut is not None
        fut.add_done_callback(lambda f, i=i: failed.append(i) if f.exception() else None)
    fanout._unanswered(sent[0].number)  # noqa: SLF001  # the first one's wait is over
    await asyncio.sleep(0)
    assert failed == [0, 1, 2] and fanout.forwards_unanswered == 3
    assert fanout.forward(1, update, 7) is None  # silent: not asked again until heard

    # Heard again: its answer makes the edit durable with its seq.
    hear(fanout, "vm-a-åse", wire.HERE)
    answered = fanout.forward(1, update, 7)
    assert answered is not None
    number = fanout._outbox[1][-1].number  # noqa: SLF001
    fanout._rooms[1] = _AnsweredRoom()  # noqa: SLF001  # bound now
    hear(fanout, "vm-a-åse", wire.forwarded_record("vm-b-Ødegård", number, 4711, update))
    assert answered.result() == 4711

    # It closes the room, or goes: what waited for it comes back here at once.
    left = fanout.forward(1, update, 7)
    hear(fanout, "vm-a-åse", wire.LEAVE)
    assert left is not None and isinstance(left.exception(), Exception)
    assert fanout.forward(1, update, 7) is None
    hear(fanout, "vm-a-åse", wire.HERE)
    gone = fanout.forward(1, update, 7)
    bus.node_gone("vm-a-åse")
    assert gone is not None and isinstance(gone.exception(), Exception)
    assert fanout.forward(1, update, 7) is None
    await bus.redis.aclose()


class _AnsweredRoom:
    """What the fan-out calls on a room when an answer comes (crdt.room.Room's methods)."""

    zone_id = 1

    def __init__(self) -> None:
        self.returned: list[int] = []

    def forward_returned(self, seq: int, update: bytes) -> None:
        self.returned.append(seq)
