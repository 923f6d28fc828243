"""The relay's direct send (server/sync/fast_send.py) against real uvicorn and real clients:
taken when uvicorn is the known one, frames intact for many peers, a closing socket stepped
around, and the ASGI path when it is turned off or uvicorn's send is not the known one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from pycrdt import Text
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.frames import Frame, Opcode

from crdt.client import YClient
from crdt.peer import Peer
from server.app import create_app
from server.services import Repositories
from server.settings import Settings
from server.sync.fast_send import (
    AsgiTransport,
    DirectTransport,
    frame_binary,
    paths,
    transport_for,
)
from tests.conftest import make_settings
from tests.support.clients import connected, text_of
from tests.support.live import LiveServer, serving, uvicorn_config
from tests.support.world import World, build_world

log = logging.getLogger("tests")

READERS = 8
SMALL = "Åse Ødegård æøå 😀"
MEDIUM = "Blåbærsyltetøy 🫐 " * 20  # a frame with a 16-bit length
LARGE = "Ærlig talt, Ødegård på Åsen 😀 " * 2500  # ~80 KB: a frame with a 64-bit length


def test_frames_are_what_websockets_writes() -> None:
    for size in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        data = ("æøå😀" * size).encode()[:size]
        expected = Frame(Opcode.BINARY, data).serialize(mask=False, extensions=[])
        assert frame_binary(data) == expected, size


def test_an_unknown_send_gets_the_asgi_transport() -> None:
    async def send(message: Message) -> None:  # not uvicorn's bound method
        pass

    before = paths.asgi_connections
    assert type(transport_for(send)) is AsgiTransport
    assert paths.asgi_connections == before + 1


async def _world(settings: Settings) -> World:
    repos = await Repositories.open(settings)
    try:
        return await build_world(repos, settings.resolved_secret_key())
    finally:
        await repos.close()


class _WrappingSend:
    """A middleware that wraps `send` (`.app`: LiveServer.services finds the app's state)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def passing(message: Message) -> None:
            await send(message)

        await self.app(scope, receive, passing)


@asynccontextmanager
async def _serve(settings: Settings, *, wrap_send: bool = False) -> AsyncIterator[LiveServer]:
    """A live server; `wrap_send` puts a middleware in front that wraps `send`, so the sync
    endpoint no longer sees uvicorn's own (as a logging middleware or another server would)."""
    app = create_app(settings)
    front = _WrappingSend(app) if wrap_send else app
    async with serving(lambda port: uvicorn_config(front, settings, port)) as (server, port):
        yield LiveServer(settings, port, server)


def _peers(server: LiveServer, world: World) -> list[Peer]:
    return list(server.services.registry.rooms[world.zones["content"]].peers)


async def _relay_to_many(server: LiveServer, world: World) -> set[type]:
    """A writer and READERS readers; every reader ends with exactly the writer's text.
    Returns the types of the server's transports for them."""
    room = world.room("content")
    async with AsyncExitStack() as stack:
        writer = await stack.enter_async_context(
            connected(server.ws_url(room, world.token("koordinator")))
        )
        readers = [
            await stack.enter_async_context(
                connected(server.ws_url(room, world.token("deltaker" if i % 2 else "leser")))
            )
            for i in range(READERS)
        ]
        text = writer.doc.get("t", type=Text)
        for piece in (SMALL, MEDIUM, LARGE, SMALL):
            text += piece
        expected = SMALL + MEDIUM + LARGE + SMALL
        for reader in readers:
            took = await reader.wait_for(lambda r=reader: text_of(r) == expected, timeout=60)
            log.info("reader converged after %.1f ms", took * 1000)
        assert all(text_of(r) == expected for r in readers)
        peers = _peers(server, world)
        assert len(peers) == READERS + 1
        return {type(p.transport) for p in peers}


async def test_relay_goes_direct_and_every_reader_gets_it_intact(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    world = await _world(settings)
    async with _serve(settings) as server:
        direct, connections = paths.direct, paths.direct_connections
        assert await _relay_to_many(server, world) == {DirectTransport}
        sent = paths.direct - direct
        log.info("direct sends: %d, direct connections: %d", sent, paths.direct_connections)
        assert paths.direct_connections - connections == READERS + 1
        # at least each of the four edits to each reader (the committer may merge some)
        assert sent >= READERS


async def test_turned_off_every_send_goes_through_asgi(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, direct_send=False)
    world = await _world(settings)
    async with _serve(settings) as server:
        direct, asgi = paths.direct, paths.asgi_connections
        assert await _relay_to_many(server, world) == {AsgiTransport}
        assert paths.direct == direct
        assert paths.asgi_connections - asgi == READERS + 1


async def test_a_wrapped_send_falls_back_to_asgi(tmp_path: Path) -> None:
    """Not uvicorn's own `send` (a middleware, another server, another uvicorn WebSocket
    implementation): detected at connect, sent through ASGI, nothing lost."""
    settings = make_settings(tmp_path)
    world = await _world(settings)
    async with _serve(settings, wrap_send=True) as server:
        direct = paths.direct
        assert await _relay_to_many(server, world) == {AsgiTransport}
        assert paths.direct == direct


async def test_a_socket_closed_beneath_the_peer_is_stepped_around(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The ASGI close went out (uvicorn's `close_sent`) while the room still holds the peer:
    the direct send declines, the ASGI send refuses as it always did, the peer is closed,
    and the others go on receiving."""
    settings = make_settings(tmp_path)
    world = await _world(settings)
    room = world.room("content")
    async with (
        _serve(settings) as server,
        connected(server.ws_url(room, world.token("koordinator"))) as writer,
        connected(server.ws_url(room, world.token("deltaker"))) as staying,
        connected(server.ws_url(room, world.token("leser"))) as leaving,
    ):
        await writer.wait_for(lambda: len(_peers(server, world)) == 3)
        writer_text = writer.doc.get("t", type=Text)
        writer_text += SMALL
        await leaving.wait_for(lambda: text_of(leaving) == SMALL)
        peer = next(
            p for p in _peers(server, world) if p.identity and p.identity["role"] == "leser"
        )
        transport = peer.transport
        assert isinstance(transport, DirectTransport)
        await transport.close(1000, "farvel æøå")  # beneath the peer: it still looks open
        declined = paths.declined
        assert transport.send_now(b"\x00\x02\x00") is False
        assert paths.declined == declined + 1
        writer_text += MEDIUM
        await staying.wait_for(lambda: text_of(staying) == SMALL + MEDIUM)
        assert await leaving.wait_closed() == 1000
        assert text_of(leaving) == SMALL  # nothing after the close frame
        await writer.wait_for(lambda: peer.closed)
        assert writer.close_code is None and staying.close_code is None
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, errors


async def test_a_client_that_closes_mid_relay_costs_the_others_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    world = await _world(settings)
    room = world.room("content")
    async with (
        _serve(settings) as server,
        connected(server.ws_url(room, world.token("koordinator"))) as writer,
        connected(server.ws_url(room, world.token("deltaker"))) as staying,
    ):
        text = writer.doc.get("t", type=Text)
        expected = ""
        for round_ in range(5):
            leaving = YClient(server.ws_url(room, world.token("leser")))
            await leaving.connect()
            await leaving.wait_for(leaving.synced.is_set)
            for i in range(20):
                piece = f"[{round_}.{i} Åse Ødegård 😀]"
                text += piece
                expected += piece
                if i == 10:
                    await leaving.close()  # its close frame arrives while edits are relayed
        await staying.wait_for(lambda: text_of(staying) == expected, timeout=60)
        await writer.wait_for(lambda: len(_peers(server, world)) == 2)
        assert writer.close_code is None and staying.close_code is None
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, errors
