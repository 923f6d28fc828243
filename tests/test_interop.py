"""The official Yjs client (yjs 13.6 + y-websocket 3, from tests/interop) against the real server.

Each promise of DESIGN §4 is checked twice: with Node clients only, and with a Python pycrdt
client in the room. Every text holds æøå and an emoji (DESIGN §9: Yjs counts UTF-16 code
units, pycrdt 0.14 does not), so the Python client only ever inserts at 0 or appends.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pycrdt import Doc, Text

from crdt.client import YClient
from crdt.protocol import encode_merged_sync_updates
from server.core.identity import identity_of
from tests.support.clients import text_of
from tests.support.live import LiveServer
from tests.support.node_client import INTEROP_DIR, NodeYClient, require_node
from tests.support.world import ROLE_USERS, World

pytestmark = pytest.mark.interop

log = logging.getLogger("tests.interop")

ÅSE = "Åse Ødegård 😀"
BLÅBÆR = "Blåbær 🫐"
FRITID = "Fritid ⚽ på Øya"
# y-protocols drops a remote awareness state after 30 s without news: wait less than that,
# so a removal we see can only have come from the server.
PRESENCE_TIMEOUT = 10.0
MIXES = ["node", "mixed"]


class PyPeer:
    """A Python pycrdt client with the same small surface as NodeYClient."""

    def __init__(self, url: str, name: str, doc: Doc[Any] | None = None) -> None:
        self.url = url
        self.name = name
        self.client = YClient(url, doc)

    @property
    def client_id(self) -> int:
        return int(self.client.doc.client_id)

    async def connect(self) -> float:
        """Connect and wait for the server's sync step 2; return the seconds it took."""
        started = time.perf_counter()
        await self.client.connect()
        await self.client.wait_for(self.client.synced.is_set)
        return time.perf_counter() - started

    async def text(self, name: str = "t") -> str:
        return text_of(self.client, name)

    async def insert(self, text: str, index: int | None = None, name: str = "t") -> None:
        ytext = self.client.doc.get(name, type=Text)
        if index is None:
            ytext += text
        elif index == 0:
            ytext.insert(0, text)
        else:  # DESIGN §9: a pycrdt position is not a Yjs position once the text holds æøå
            raise ValueError("the Python client inserts only at 0 or at the end")

    async def set_awareness(self, state: dict[str, Any] | None) -> None:
        await self.client.set_awareness(state)

    async def others(self) -> dict[int, Any]:
        return {cid: s for cid, s in self.client.awareness.items() if cid != self.client_id}

    async def disconnect(self) -> None:
        """Go offline, keeping the document (and so whatever is edited meanwhile)."""
        await self.client.close()

    async def reconnect(self) -> float:
        self.client = YClient(self.url, self.client.doc)
        return await self.connect()

    async def close(self) -> None:
        await self.client.close()


Participant = NodeYClient | PyPeer


class Clients:
    """Starts clients of either kind in the test's plan, and always stops them all."""

    def __init__(self, server: LiveServer, world: World) -> None:
        self.server = server
        self.world = world
        self.base = f"ws://127.0.0.1:{server.port}/ws"
        self.started: list[Participant] = []
        self.count = 0

    async def node(
        self, role: str = "koordinator", zone: str = "content", *, connect: bool = True
    ) -> NodeYClient:
        self.count += 1
        name = f"node{self.count}-{role}"
        room, token = self.world.room(zone), self.world.token(role)
        client = await NodeYClient.start(self.base, room, token, connect=connect, name=name)
        self.started.append(client)
        if connect:
            log.info("%s synced in %.1f ms", name, await client.wait_synced() * 1000)
        return client

    async def python(
        self, role: str = "deltaker", zone: str = "content", *, connect: bool = True
    ) -> PyPeer:
        self.count += 1
        url = self.server.ws_url(self.world.room(zone), self.world.token(role))
        peer = PyPeer(url, f"py{self.count}-{role}")
        self.started.append(peer)
        if connect:
            log.info("%s synced in %.1f ms", peer.name, await peer.connect() * 1000)
        return peer

    async def of_kind(self, kind: str, role: str, zone: str = "content") -> Participant:
        return await (self.python(role, zone) if kind == "python" else self.node(role, zone))

    async def close_all(self) -> None:
        await asyncio.gather(*(c.close() for c in self.started), return_exceptions=True)


@pytest.fixture
async def clients(server: LiveServer, world: World) -> AsyncIterator[Clients]:
    require_node()
    started = Clients(server, world)
    try:
        yield started
    finally:
        await started.close_all()


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    timeout: float = 20.0,
    explain: Callable[[], Awaitable[str]] | None = None,
) -> float:
    """Poll `check` (sync or async) until it holds; return the seconds it took."""
    started = time.perf_counter()
    while not await _value(check()):
        if time.perf_counter() - started > timeout:
            detail = await explain() if explain else ""
            raise AssertionError(f"not true after {timeout} s {detail}")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def _value(result: bool | Awaitable[bool]) -> bool:
    return await result if inspect.isawaitable(result) else bool(result)


async def converged(peers: list[Participant], *parts: str, timeout: float = 20.0) -> str:
    """Wait until every peer holds the same text and it contains `parts`; return that text."""

    async def texts() -> list[str]:
        return [await p.text() for p in peers]

    async def check() -> bool:
        found = await texts()
        return len(set(found)) == 1 and all(part in found[0] for part in parts)

    async def explain() -> str:
        return f"texts: {dict(zip([p.name for p in peers], await texts(), strict=True))}"

    elapsed = await eventually(check, timeout, explain)
    log.info("%d clients converged in %.1f ms", len(peers), elapsed * 1000)
    return (await texts())[0]


def stamped(clients: Clients, role: str, state: dict[str, Any]) -> dict[str, Any]:
    """What others see of `state`: the server writes the authenticated identity into `user`
    (a client cannot appear as someone else); the rest of the state is the client's."""
    _, name = ROLE_USERS[role]
    identity = identity_of(clients.world.users[role], name, role)
    return {**state, "user": {**state.get("user", {}), **identity}}


async def sees(observer: Participant, client_id: int, state: Any) -> float:
    async def check() -> bool:
        return bool((await observer.others()).get(client_id) == state)

    async def explain() -> str:
        return f"{observer.name} sees {await observer.others()}"

    return await eventually(check, PRESENCE_TIMEOUT, explain)


def assert_untroubled(*nodes: NodeYClient) -> None:
    """No connection closed by the server, and no write refused."""
    for node in nodes:
        assert [c for c in node.close_codes() if c is not None] == [], node.events
        assert node.denials() == []


def second_kind(mix: str) -> str:
    return "python" if mix == "mixed" else "node"


# -- two clients converge after concurrent edits ------------------------------------------


@pytest.mark.parametrize("mix", MIXES)
async def test_two_clients_converge_after_concurrent_edits(clients: Clients, mix: str) -> None:
    a = await clients.node("koordinator")
    b = await clients.of_kind(second_kind(mix), "deltaker")
    await a.insert("Åse 😀 Ødegård")
    await converged([a, b], "Åse 😀 Ødegård")
    # JavaScript counts UTF-16 units: "Åse 😀 " is 7 of them (the emoji is two).
    await a.insert("«", index=7)
    await converged([a, b], "Åse 😀 «Ødegård")

    rounds = 10
    for i in range(rounds):  # both insert at the front before either hears of the other
        await asyncio.gather(a.insert(f"[a{i} {BLÅBÆR}]", 0), b.insert(f"[b{i} {ÅSE}]", 0))
    text = await converged([a, b], "Åse 😀 «Ødegård", *(f"[a{i} " for i in range(rounds)))
    for i in range(rounds):
        assert text.count(f"[a{i} {BLÅBÆR}]") == 1
        assert text.count(f"[b{i} {ÅSE}]") == 1
    assert_untroubled(*(c for c in (a, b) if isinstance(c, NodeYClient)))


# -- a late joiner gets the full document -------------------------------------------------


@pytest.mark.parametrize("mix", MIXES)
async def test_late_joiner_gets_full_document(clients: Clients, mix: str) -> None:
    writers = [await clients.node("koordinator"), await clients.of_kind(second_kind(mix), "verge")]
    for i in range(5):
        for n, writer in enumerate(writers):
            await writer.insert(f"{n}.{i} {ÅSE} {BLÅBÆR}\n", 0)
    await writers[0].insert("slutt ⚽", None)
    expected = await converged(writers, "slutt ⚽", "0.4 ", "1.4 ")

    # A read-only reader too: its sync step 2 echo must not be refused as a write.
    late: list[Participant] = [await clients.node("leser")]
    if mix == "mixed":
        late.append(await clients.python("planeier"))
    for joiner in late:
        assert await joiner.text() == expected, joiner.name
    assert_untroubled(*(c for c in writers + late if isinstance(c, NodeYClient)))


# -- a client that edits while disconnected merges on reconnect ---------------------------


@pytest.mark.parametrize("mix", MIXES)
async def test_offline_edits_merge_on_reconnect(clients: Clients, mix: str) -> None:
    online = await clients.node("koordinator")
    offline = await clients.node("deltaker")
    py = await clients.python("verge") if mix == "mixed" else None
    everyone: list[Participant] = [online, offline, *([py] if py else [])]
    await online.insert(f"Felles {FRITID}\n")
    await converged(everyone, FRITID)

    await offline.call("disconnect")
    assert not (await offline.call("status"))["wsconnected"]
    await offline.insert(f"frakoblet node {ÅSE}\n", 0)
    if py is not None:
        await py.disconnect()
        await py.insert(f"frakoblet python {BLÅBÆR}\n", 0)
    await online.insert(f"på nett {BLÅBÆR} æøå\n")
    assert "frakoblet" not in await online.text()

    await offline.call("connect")
    log.info("offline node resynced in %.1f ms", await offline.wait_synced() * 1000)
    if py is not None:
        log.info("offline python resynced in %.1f ms", await py.reconnect() * 1000)
    parts = [f"frakoblet node {ÅSE}", f"på nett {BLÅBÆR} æøå", f"Felles {FRITID}"]
    if py is not None:
        parts.append(f"frakoblet python {BLÅBÆR}")
    text = await converged(everyone, *parts)
    assert all(text.count(part) == 1 for part in parts), text
    assert_untroubled(online)
    assert [c for c in offline.close_codes() if c is not None] == []


# -- three clients opening the same zone at the same instant all finish syncing -----------


@pytest.mark.parametrize("mix", MIXES)
async def test_three_clients_join_a_cold_room_at_once(
    clients: Clients, server: LiveServer, world: World, mix: str
) -> None:
    zone = "area/skole"
    zone_id = world.zones[zone]
    rooms = server.services.registry.rooms
    # Something stored first, so the simultaneous joins race a real load from storage.
    first = await clients.node("koordinator", zone)
    await first.insert(f"Skole og læring 📚 {ÅSE}")
    await converged([first], "📚")
    await first.close()
    await eventually(lambda: zone_id not in rooms, server.settings.room_grace_seconds + 10)

    nodes = [await clients.node(role, zone, connect=False) for role in ("koordinator", "verge")]
    if mix == "mixed":
        third: Participant = await clients.python("deltaker", zone, connect=False)
    else:
        third = await clients.node("deltaker", zone, connect=False)
    assert zone_id not in rooms
    joiners: list[Participant] = [*nodes, third]

    async def join(peer: Participant) -> float:
        if isinstance(peer, PyPeer):
            return await peer.connect()
        started = time.perf_counter()
        await peer.call("connect")
        await peer.wait_synced(timeout=20)
        return time.perf_counter() - started

    times = await asyncio.gather(*(join(p) for p in joiners))
    log.info("simultaneous joins synced in %s ms", [round(t * 1000, 1) for t in times])
    assert await converged(joiners) == f"Skole og læring 📚 {ÅSE}"

    # And the room works for all three.
    for n, peer in enumerate(joiners):
        await peer.insert(f" {n}:{BLÅBÆR}")
    await converged(joiners, *(f" {n}:{BLÅBÆR}" for n in range(3)))
    assert_untroubled(*nodes)


# -- a newcomer sees the awareness of those already present -------------------------------


@pytest.mark.parametrize("mix", MIXES)
async def test_newcomer_sees_awareness_of_those_present(clients: Clients, mix: str) -> None:
    roles = ["koordinator", "verge"]
    present = [await clients.node(roles[0]), await clients.of_kind(second_kind(mix), roles[1])]
    claimed = {
        p.client_id: {"user": {"name": name, "color": "#c0ffee"}, "cursor": None}
        for p, name in zip(present, [ÅSE, f"Øystein {BLÅBÆR}"], strict=True)
    }
    states = {
        p.client_id: stamped(clients, role, claimed[p.client_id])
        for p, role in zip(present, roles, strict=True)
    }
    for p in present:
        await p.set_awareness(claimed[p.client_id])
    for p, other in ((present[0], present[1]), (present[1], present[0])):
        await sees(p, other.client_id, states[other.client_id])

    newcomers: list[Participant] = [await clients.node("deltaker")]
    if mix == "mixed":
        newcomers.append(await clients.python("planeier"))
    for newcomer in newcomers:
        for p in present:
            elapsed = await sees(newcomer, p.client_id, states[p.client_id])
            log.info(
                "%s saw %s's presence %.1f ms after sync", newcomer.name, p.name, elapsed * 1e3
            )


# -- a client's awareness disappears as soon as its socket closes -------------------------


@pytest.mark.parametrize("mix", MIXES)
async def test_awareness_disappears_when_socket_closes(clients: Clients, mix: str) -> None:
    observers: list[Participant] = [await clients.node("koordinator")]
    killed = await clients.node("deltaker")  # SIGKILL: no goodbye, the kernel closes the socket
    leaver: Participant  # closes its socket without withdrawing its presence first
    if mix == "mixed":
        observers.append(await clients.python("verge"))
        leaver = await clients.python("planeier")
    else:
        leaver = await clients.node("verge")
    leaver_role = "planeier" if mix == "mixed" else "verge"
    for p, name, role in ((killed, ÅSE, "deltaker"), (leaver, BLÅBÆR, leaver_role)):
        await p.set_awareness({"user": {"name": name}})
        for observer in observers:
            await sees(observer, p.client_id, stamped(clients, role, {"user": {"name": name}}))

    for how, gone in (("SIGKILL", killed), ("socket close", leaver)):
        started = time.perf_counter()
        if gone is killed:
            killed.kill()
        elif isinstance(gone, PyPeer):
            await gone.close()
        else:
            await gone.call("drop", mode="close")

        async def removed_everywhere(cid: int = gone.client_id) -> bool:
            return all([cid not in await o.others() for o in observers])

        async def explain() -> str:
            return f"still present: {[await o.others() for o in observers]}"

        await eventually(removed_everywhere, PRESENCE_TIMEOUT, explain)
        log.info(
            "%s's presence gone for every observer %.1f ms after %s",
            gone.name,
            (time.perf_counter() - started) * 1000,
            how,
        )
    assert_untroubled(*(o for o in observers if isinstance(o, NodeYClient)))


# -- the document is intact after every client has left and a new one joins --------------


@pytest.mark.parametrize("mix", MIXES)
async def test_document_intact_after_everyone_left(
    clients: Clients, server: LiveServer, world: World, mix: str
) -> None:
    zone_id = world.zones["content"]
    rooms = server.services.registry.rooms
    writers = [await clients.node("koordinator"), await clients.of_kind(second_kind(mix), "verge")]
    quitter = await clients.node("deltaker")
    for i in range(3):
        for n, writer in enumerate([*writers, quitter]):
            await writer.insert(f"{n}.{i} {ÅSE} {BLÅBÆR} {FRITID}\n", 0)
    expected = await converged([*writers, quitter], "0.2 ", "1.2 ", "2.2 ")

    # Leave every way there is: a crash, a polite quit, and (mixed) a Python close.
    assert isinstance(writers[0], NodeYClient)
    writers[0].kill()
    await asyncio.gather(quitter.close(), writers[1].close())
    elapsed = await eventually(
        lambda: zone_id not in rooms, server.settings.room_grace_seconds + 10
    )
    log.info("room unloaded %.1f ms after the last client left", elapsed * 1000)

    joiners: list[Participant] = [await clients.node("leser")]
    if mix == "mixed":
        joiners.append(await clients.python("planeier"))
    assert zone_id in rooms
    for joiner in joiners:
        assert await joiner.text() == expected, joiner.name
    assert_untroubled(*(j for j in joiners if isinstance(j, NodeYClient)))


# -- the real client's normal plan edits never trip the server's shape check -------------------


async def test_the_official_clients_plan_edits_keep_the_zone_shapes(
    server: LiveServer, world: World, clients: Clients
) -> None:
    """Goals, sub-goals, measures with dates, status and responsible, evaluations, rich text
    with marks and a list, æøå and emoji, undo and redo of typing and of a removal, content's
    plan period and lists, and an offline merge, all as the bundle writes them (issue 11):
    no socket is closed, every edit is stored, and the stored zones keep the contract."""
    from crdt.schema import read_zone
    from crdt.zone_state import doc_from_stored

    me = str(world.users["deltaker"])
    text = f"{ÅSE} øver på lesing med {BLÅBÆR} æøå"
    area = await clients.node("deltaker", "area/skole")
    other = await clients.node("koordinator", "area/skole")
    content = await clients.node("deltaker", "content")
    first = await area.call("areaEdits", me=me, text=text)
    await content.call("contentEdits", me=me, text=text)
    # Offline merge: both edit the same zone, one of them offline, then it reconnects.
    await area.call("disconnect")
    offline = await area.call("areaEdits", me=me, text=f"frakoblet {text}")
    await other.call("areaEdits", me=str(world.users["koordinator"]), text=f"på nett {text}")
    await area.call("connect")
    await area.wait_synced()

    zone_id = world.zones["area/skole"]
    goals_each = first["goals"]  # what one round of edits leaves (undo and redo included)
    assert offline["goals"] == 2 * goals_each

    async def stored(zone: int, kind: str) -> dict[str, Any]:
        problems: list[Any] = []
        data = read_zone(
            doc_from_stored(await server.services.committer.store.load(zone)), kind, problems
        )
        assert problems == []
        return data

    async def all_stored() -> bool:
        room = server.services.registry.rooms.get(zone_id)
        if room is not None:
            await room.settle()
        return len((await stored(zone_id, "area"))["goals"]) == 3 * goals_each

    await eventually(all_stored)
    data = await stored(zone_id, "area")
    assert len(data["measures"]) == 3 and len(data["evaluations"]) == 3
    assert {m["status"] for m in data["measures"]} == {"pagar"}
    assert any(text in g["title"] for g in data["goals"])
    contents = await stored(world.zones["content"], "content")
    assert contents["meta"]["nextRevision"] == "2026-06-30"  # the last change was undone
    assert contents["contributions"][0]["text"] == text
    assert_untroubled(area, other, content)


# -- a durable batch relayed as one merged frame ------------------------------------------

_READ_ONE_FRAME = """
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
const decoder = decoding.createDecoder(new Uint8Array(Buffer.from(process.argv[1], 'hex')))
const messageType = decoding.readVarUint(decoder)
const doc = new Y.Doc()
const syncType = syncProtocol.readSyncMessage(decoder, encoding.createEncoder(), doc, 'server')
process.stdout.write(JSON.stringify({
  messageType, syncType, text: doc.getText('t').toString(),
  pending: doc.store.pendingStructs !== null || doc.store.pendingDs !== null,
}))
"""


async def test_the_official_client_applies_a_batch_merged_into_one_frame() -> None:
    """The room relays the updates of one durable batch as ONE frame holding their merge
    (crdt/room.py `_relay_committed`, encoded by `encode_merged_sync_updates`). The official
    y-protocols reader (what y-websocket runs on every message) applies such a frame to a
    Yjs document as the updates themselves: same text, nothing left pending."""
    require_node()
    updates = []
    for client_id, words in ((21, ÅSE), (22, BLÅBÆR), (23, FRITID)):
        doc: Doc[Any] = Doc(client_id=client_id)
        text = doc.get("t", type=Text)
        text.insert(0, f"[{words}] ")
        updates.append(doc.get_update())
        state = doc.get_state()
        text += " æøå 😀"  # a second update of the same client, after its first
        updates.append(doc.get_update(state))
    expected: Doc[Any] = Doc()
    for update in updates:
        expected.apply_update(update)
    [frame] = encode_merged_sync_updates(updates)
    node = await asyncio.create_subprocess_exec(
        "node",
        "--input-type=module",
        "-e",
        _READ_ONE_FRAME,
        frame.hex(),
        cwd=INTEROP_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(node.communicate(), 60)
    assert node.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["messageType"] == 0 and result["syncType"] == 2  # sync, update
    assert result["pending"] is False
    assert result["text"] == str(expected.get("t", type=Text))
    for words in (ÅSE, BLÅBÆR, FRITID):
        assert f"[{words}] " in result["text"]
    assert result["text"].count(" æøå 😀") == 3
