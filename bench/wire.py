"""A deliberately cheap y-websocket client for the load generator.

The load generator shares two cores with the server under test, so every microsecond it
spends is one the server cannot. Hence: no `websockets.asyncio` connection (a task wake-up
per message), but an `asyncio.Protocol` over the websockets sans-I/O state machine. A
received update is only timestamped and kept; it is decoded after the measured window.
The timestamp is taken once per `data_received`, the earliest moment Python sees the bytes.

Two framings, one client: y-websocket's (Samplan, pycrdt-websocket, @y/websocket-server, the
floor) and Hocuspocus's, which puts the document name (a lib0 var-string) before every message
in both directions, adds message types (2 auth, 4 sync reply: a sync message that asks for no
step 1 back, 8 sync status: its ack of each applied update) and ignores everything until the
client has sent an auth message (`ClientConnection.handleQueueingMessage` in
@hocuspocus/server 4.7). Everything after the prefix is the y-websocket message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from bench.yupdate import struct_keys
from crdt.lib0 import Decoder, write_var_string, write_var_uint
from crdt.protocol import MessageType, SyncType, encode_sync_step1, encode_sync_step2

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """`asyncio.wait_for`, minus its Python 3.11 flaw: there a cancel that arrives as the
    awaited thing completes is swallowed and the caller goes on, so a Ctrl-C during the
    joins could leave a bench running its scenario to the end with every server up.
    `asyncio.timeout` passes such a cancel on."""
    async with asyncio.timeout(seconds):
        return await awaitable


EMPTY_UPDATE = b"\x00\x00"
EMPTY_STATE_VECTOR = b"\x00"
# Plain ints: comparing a byte with an IntEnum member costs a method call on the hot path.
_SYNC = int(MessageType.SYNC)
_STEP1, _STEP2, _UPDATE = int(SyncType.STEP1), int(SyncType.STEP2), int(SyncType.UPDATE)
# Hocuspocus's message types beyond y-websocket's (@hocuspocus/server src/types.ts).
HOCUSPOCUS_AUTH, HOCUSPOCUS_SYNC_REPLY = 2, 4
_AUTH_TOKEN = 0  # @hocuspocus/common AuthMessageType.Token


def hocuspocus_prefix(document: str) -> bytes:
    """The document name as Hocuspocus frames it: a lib0 var-string (UTF-8 byte length)."""
    buf = bytearray()
    write_var_string(buf, document)
    return bytes(buf)


def hocuspocus_auth(prefix: bytes, token: str) -> bytes:
    """What HocuspocusProvider sends first: [name][auth][token type][token]. A server with
    no onAuthenticate hook accepts any token."""
    buf = bytearray(prefix)
    write_var_uint(buf, HOCUSPOCUS_AUTH)
    write_var_uint(buf, _AUTH_TOKEN)
    write_var_string(buf, token)
    return bytes(buf)


class BenchClient(asyncio.Protocol):
    """One y-websocket connection: handshake, then record every update it is sent.

    `received` holds (receipt time, frame) for every sync-update frame; `synced_at` is when
    the server's sync step 2 arrived (the document as the server holds it). With `document`
    set the client speaks Hocuspocus's framing for that document; frames in `received` and
    `step2` keep their prefix, `offset` bytes long.
    """

    def __init__(self, url: str, index: int, document: str | None = None) -> None:
        self.url = url
        self.index = index
        self.prefix = hocuspocus_prefix(document) if document is not None else b""
        self.offset = len(self.prefix)
        self.ws = ClientProtocol(parse_uri(url), max_size=None)
        self.transport: asyncio.Transport | None = None
        self.received: list[tuple[float, bytes]] = []
        self.updates = 0
        self.step2: bytes | None = None
        self.synced_at: float | None = None
        self.close_code: int | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.synced: asyncio.Future[None] = loop.create_future()

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Response):
                self._on_response(event)
            elif not isinstance(event, Frame):
                continue
            elif event.opcode is Opcode.BINARY:
                self._on_frame(bytes(event.data), now)
            elif event.opcode is Opcode.CLOSE:
                self.close_code = ws.close_code
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = self.ws.close_code or 1006
        for fut in (self.opened, self.synced):
            if not fut.done():
                fut.set_exception(ConnectionError(f"closed with {self.close_code}"))

    # -- protocol -----------------------------------------------------------------------

    def _on_response(self, response: Response) -> None:
        if self.ws.handshake_exc is not None or response.status_code != 101:
            if not self.opened.done():
                self.opened.set_exception(
                    ConnectionError(f"handshake refused ({response.status_code})")
                )
            return
        self.opened.set_result(None)
        if self.prefix:  # Hocuspocus queues what follows until the auth message is handled
            self._write(hocuspocus_auth(self.prefix, "benchmark"))
        # Ask for the server's document, as a WebsocketProvider does on open.
        self.send(encode_sync_step1(EMPTY_STATE_VECTOR))

    def _on_frame(self, frame: bytes, now: float) -> None:
        p = self.offset
        if len(frame) < p + 2 or (p and not frame.startswith(self.prefix)):
            return
        if frame[p] != _SYNC and not (p and frame[p] == HOCUSPOCUS_SYNC_REPLY):
            return  # awareness, auth, sync status and the rest: not measured
        kind = frame[p + 1]
        if kind == _UPDATE:
            self.received.append((now, frame))
            self.updates += 1
        elif kind == _STEP1:
            # We hold nothing the server lacks: answer with an empty update.
            self.send(encode_sync_step2(EMPTY_UPDATE))
        elif kind == _STEP2:
            self.synced_at = now
            self.step2 = frame
            if not self.synced.done():
                self.synced.set_result(None)

    def send(self, frame: bytes) -> None:
        """Send a y-websocket message (framed for Hocuspocus when this client speaks it)."""
        self._write(self.prefix + frame if self.prefix else frame)

    def _write(self, frame: bytes) -> None:
        self.ws.send_binary(frame)
        self._flush()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for chunk in self.ws.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()

    def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.ws.send_close(1000)
            self._flush()
        finally:
            self.transport.close()


async def open_client(
    url: str, index: int, timeout: float = 30.0, document: str | None = None
) -> BenchClient:
    """Connect and complete the WebSocket handshake (not the sync: see `BenchClient.synced`).
    `document`: speak Hocuspocus's framing for this document name."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    _, client = await within(
        loop.create_connection(
            lambda: BenchClient(url, index, document),
            parts.hostname or "127.0.0.1",
            parts.port or 80,
        ),
        timeout,
    )
    await within(client.opened, timeout)
    return client


def update_of(frame: bytes, offset: int = 0) -> bytes:
    """The update inside a sync-update (or step 2) frame, after `offset` bytes of prefix."""
    decoder = Decoder(frame[offset:] if offset else frame)
    decoder.read_var_uint()
    decoder.read_var_uint()
    return decoder.read_var_bytes()


def update_key(update: bytes) -> tuple[int, int] | None:
    """(client, clock) of an update's first struct, without decoding the CRDT.

    A Yjs v1 update starts with varuint numClientGroups, then for the first group varuint
    numStructs, varuint client, varuint clock. None for an update without structs.
    """
    decoder = Decoder(update)
    if decoder.read_var_uint() == 0:
        return None
    decoder.read_var_uint()
    client = decoder.read_var_uint()
    return client, decoder.read_var_uint()


def frame_key(frame: bytes, offset: int = 0) -> tuple[int, int] | None:
    return update_key(update_of(frame, offset))


def frame_keys(frame: bytes, offset: int = 0) -> list[tuple[int, int]]:
    """Every edit a frame carries: one for most servers, several when the server merged the
    updates of one event-loop turn (Hocuspocus)."""
    return struct_keys(update_of(frame, offset))
