"""The relay's send, one frame written straight to each socket beneath ASGI (issue 16).

Why: a broadcast sends the same bytes to every peer of a room, and through ASGI each of those
sends builds a message dict and two coroutines, waits on uvicorn's writability event, and has
`websockets` frame the payload again (a `Frame`, its checks, a `BytesIO`, a join) before the
`send()` syscall. That per-peer Python was about a third of the server's CPU under burst
(docs/BENCHMARKS.md, "Where the time goes under burst"). Here the WebSocket frame is built once
per payload (the last one is remembered, so a fan-out of one `bytes` object to N peers frames
it once) and each peer costs a few attribute checks and `transport.write`.

What makes it safe, and when it steps aside. `DirectTransport.send_now` writes only what
uvicorn's own `send` would have written at that moment, and otherwise returns False so the
caller takes the ordinary ASGI path (crdt/peer.py), which then behaves exactly as before:

- Only a binary data frame, uncompressed, from the server side: the same bytes
  `websockets`' `send_binary` serialises when no extension was negotiated. A connection that
  negotiated one (permessage-deflate, if ever turned on) is never made direct.
- Only while the connection is open for data: the handshake is done, the app has not sent its
  close (`close_sent`), the client has not gone (`disconnected`), `websockets` is in `OPEN`
  (not closing after a client's close frame) and the transport is not closing. Any other state
  goes the ASGI way, which raises or ignores as it always did.
- Backpressure is uvicorn's: while the transport's buffer is above its high-water mark uvicorn
  clears `writable` and its `send` would wait; then `send_now` declines, the ASGI send suspends,
  and the peer queues behind it up to `send_queue_frames` and is then closed "too slow", as
  before. A slow client therefore never grows the buffer beyond what the ASGI path allowed.

Detected once per connection, right after the accept: the ASGI `send` must be the bound `send`
of exactly uvicorn's `WebSocketsSansIOProtocol` (not a subclass, not wrapped by a middleware),
with the attributes used here of the expected types, and the framing is checked against
`websockets`' own serialiser once per process. If anything differs (another uvicorn
WebSocket implementation, a renamed attribute after an upgrade, `SAMPLAN_DIRECT_SEND=false`),
the connection gets the plain ASGI transport and everything works as before, only slower;
`samplan_ws_asgi_connections` counts the connections that did not go direct.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable
from typing import Any

from starlette.types import Send

log = logging.getLogger("samplan.ws")

_BINARY_FIN = 0x82  # FIN + opcode 2 (binary); no RSV bits (no extension), no mask (server side)


def frame_binary(data: bytes) -> bytes:
    """A server-to-client binary WebSocket frame (RFC 6455 §5.2) holding `data`."""
    n = len(data)
    if n < 126:
        return bytes((_BINARY_FIN, n)) + data
    if n < 65536:
        return struct.pack("!BBH", _BINARY_FIN, 126, n) + data
    return struct.pack("!BBQ", _BINARY_FIN, 127, n) + data


class SendPaths:
    """How sends went, for /metrics and the tests: `direct` sends written beneath ASGI,
    `declined` ones a direct transport handed back to the ASGI path (a closing or
    back-pressured socket), and how many connections were given each transport."""

    __slots__ = ("direct", "declined", "direct_connections", "asgi_connections")

    def __init__(self) -> None:
        self.direct = 0
        self.declined = 0
        self.direct_connections = 0
        self.asgi_connections = 0


paths = SendPaths()


class AsgiTransport:
    """crdt.peer.Transport over the raw ASGI `send`: the data path skips Starlette's
    per-call state checks. Also the fallback when a direct write is not possible."""

    __slots__ = ("_send", "_closed")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._closed = False

    def send_bytes(self, data: bytes) -> Awaitable[None]:
        return self._send({"type": "websocket.send", "bytes": data})

    async def close(self, code: int, reason: str) -> None:
        if not self._closed:
            self._closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason})


# The last payload framed and its frame: a broadcast hands every peer the same `bytes`
# object, so it is framed once. Holding the reference keeps the identity test sound.
_last: list[bytes] = [b"", frame_binary(b"")]


class DirectTransport(AsgiTransport):
    """AsgiTransport plus `send_now`: the frame written to the socket without ASGI, when
    uvicorn would have written it at once (see the module docstring)."""

    __slots__ = ("_protocol", "_conn", "_socket", "_writable", "_open")

    def __init__(self, send: Send, protocol: Any, open_state: object) -> None:
        super().__init__(send)
        self._protocol = protocol
        self._conn = protocol.conn
        self._socket = protocol.transport
        self._writable: asyncio.Event = protocol.writable
        self._open = open_state

    def send_now(self, data: bytes) -> bool:
        """Write `data` as one binary frame now; False (nothing written) when the ASGI path
        must decide instead."""
        protocol = self._protocol
        if (
            protocol.close_sent
            or protocol.disconnected
            or not self._writable.is_set()
            or self._conn.state is not self._open
            or self._socket.is_closing()
        ):
            paths.declined += 1
            return False
        last = _last
        if last[0] is data:
            wire = last[1]
        else:
            wire = frame_binary(data)
            last[0] = data
            last[1] = wire
        self._socket.write(wire)
        paths.direct += 1
        return True


_framing_checked: bool | None = None
_told = False


def _framing_matches() -> bool:
    """Our frames are byte for byte what the installed `websockets` writes (checked once)."""
    global _framing_checked
    if _framing_checked is None:
        try:
            from websockets.frames import Frame, Opcode

            _framing_checked = all(
                Frame(Opcode.BINARY, data).serialize(mask=False, extensions=[])
                == frame_binary(data)
                for data in (b"", b"\x00" * 125, b"\x01" * 126, b"\x02" * 65535, b"\x03" * 65536)
            )
        except Exception as exc:  # a websockets without this API: not the one we know
            log.warning("direct send off: websockets framing check failed (%s)", exc)
            _framing_checked = False
        if not _framing_checked:
            log.warning("direct send off: our framing differs from websockets'")
    return _framing_checked


def _direct_reason(send: Send) -> tuple[Any, object] | str:
    """(uvicorn protocol, websockets' OPEN state) when `send` can be bypassed, else why not."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
        from websockets.protocol import State
        from websockets.server import ServerProtocol
    except ImportError as exc:
        return f"import: {exc}"
    protocol = getattr(send, "__self__", None)
    if type(protocol) is not WebSocketsSansIOProtocol:
        return f"send is not uvicorn's sans-I/O protocol's ({type(protocol).__name__})"
    if getattr(send, "__func__", None) is not WebSocketsSansIOProtocol.send:
        return "uvicorn's send is not the one this was written against"
    conn = getattr(protocol, "conn", None)
    if type(conn) is not ServerProtocol:
        return "not a websockets ServerProtocol"
    if conn.extensions:
        return "an extension (compression) was negotiated"
    if conn.expect_continuation_frame:
        return "a fragmented message is under way"
    checks = (
        isinstance(getattr(protocol, "writable", None), asyncio.Event),
        getattr(protocol, "handshake_complete", None) is True,
        getattr(protocol, "initial_response", 0) is None,
        getattr(protocol, "close_sent", None) is False,
        getattr(protocol, "disconnected", None) is False,
        callable(getattr(protocol.transport, "write", None)),
        callable(getattr(protocol.transport, "is_closing", None)),
        conn.state is State.OPEN,
    )
    if not all(checks):
        return f"unexpected protocol state {checks}"
    if not _framing_matches():
        return "framing differs"
    return protocol, State.OPEN


def transport_for(send: Send, *, direct: bool = True) -> AsgiTransport:
    """The transport for one accepted sync socket: direct when `send` is uvicorn's and in the
    state this module knows, else the plain ASGI one (`direct=False` forces it)."""
    if direct:
        found = _direct_reason(send)
        if isinstance(found, tuple):
            paths.direct_connections += 1
            return DirectTransport(send, *found)
        global _told
        if not _told:  # once a process: a uvicorn or websockets upgrade shows here
            _told = True
            log.warning("direct send not used, sends go through ASGI: %s", found)
    paths.asgi_connections += 1
    return AsgiTransport(send)
