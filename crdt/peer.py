"""One connection's outbound side: a bounded queue drained by its own sender task.

A slow or stalled peer must never hold up a broadcast, grow memory without bound, or
silently miss an update (pycrdt-websocket drops updates when its buffer fills). So a
broadcast only appends to this queue; when the queue is full the peer is closed with a
code that makes its y-websocket client reconnect and resync from the durable state.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from types import CoroutineType
from typing import Any, Protocol

from crdt.protocol import CloseCode

log = logging.getLogger("samplan.peer")

CLOSE_TIMEOUT_SECONDS = 10.0


class Transport(Protocol):
    """What a peer sends through. A transport may also offer `send_now(data) -> bool`: write
    the frame at once without a coroutine, or return False having written nothing (the
    server's direct relay, server/sync/fast_send.py)."""

    def send_bytes(self, data: bytes) -> Awaitable[None]: ...

    async def close(self, code: int, reason: str) -> None: ...


class Peer:
    """The room's handle on one connection. `can_write` may change while open (role change).

    An idle connection costs little (issue 16, "Memory"): the backlog queue and the task that
    drains it exist only while a send could not complete at once, and the event a closing
    session waits on only once someone waits; __slots__, no per-instance dict."""

    __slots__ = (
        "transport",
        "_send_now",
        "user_id",
        "peer_id",
        "can_write",
        "identity",
        "max_queued_frames",
        "close_code",
        "on_close",
        "_queue",
        "_sender",
        "_done",
        "_closed",
    )

    def __init__(
        self,
        transport: Transport,
        *,
        peer_id: str,
        can_write: bool,
        max_queued_frames: int = 2048,
        identity: dict[str, Any] | None = None,
        user_id: int | None = None,
    ) -> None:
        self.transport = transport
        self._send_now: Callable[[bytes], bool] | None = getattr(transport, "send_now", None)
        # The authenticated user whose socket this is: the author of every update it sends,
        # recorded with the update (crdt/authorship.py). Never taken from what a client writes.
        self.user_id = user_id
        self.peer_id = peer_id
        self.can_write = can_write
        # Who the server authenticated; stamped over `user` in this peer's awareness states
        # so presence and cursor labels cannot claim to be someone else.
        self.identity = identity
        self.max_queued_frames = max_queued_frames
        self.close_code: int | None = None
        # Called once when the server closes this peer, so the room forgets it and its
        # presence at once, even if a stalled client never completes the close handshake.
        self.on_close: Callable[[Peer], None] | None = None
        # While a send is under way in the sender task, frames queue here behind it, in
        # order; the task ends when the queue is empty. None both: nothing is waiting.
        self._queue: deque[bytes] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._done = False  # closed and its close handshake over (or abandoned)
        self._closed: asyncio.Event | None = None  # made by the first wait_closed

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def queued(self) -> int:
        return len(self._queue) if self._queue is not None else 0

    def send(self, frame: bytes) -> None:
        """Send without waiting; close the peer if it cannot keep up.

        When nothing is queued, a transport that can write at once does (`send_now`); else
        the transport's send is driven right here: with uvicorn it
        completes without suspending while the socket is writable, which saves a task
        wake-up per delivery (the largest cost of a fan-out). A send that would block is
        abandoned before it wrote anything (uvicorn waits for writability first; were a
        server to suspend after writing, the frame would go twice, which Yjs updates and
        awareness tolerate) and the frame goes to the sender task instead, in order.
        """
        if self.close_code is not None:
            return
        queue = self._queue
        if queue is not None:  # the sender task is sending: behind it, in order
            if len(queue) >= self.max_queued_frames:
                log.warning(
                    "peer %s too slow (%d frames queued): closing", self.peer_id, len(queue)
                )
                self.close(CloseCode.TRY_AGAIN_LATER, "too slow")
                return
            queue.append(frame)
            return
        send_now = self._send_now
        if send_now is not None and send_now(frame):
            return
        sending = self.transport.send_bytes(frame)
        if type(sending) is CoroutineType:  # exact type: an ABC isinstance costs per delivery
            try:
                sending.send(None)
            except StopIteration:
                return
            except Exception as exc:
                self._send_failed(exc)
                return
            sending.close()
        self._queue = deque((frame,))
        self._sender = asyncio.get_running_loop().create_task(
            self._run_sender(self._queue), name=f"sender {self.peer_id}"
        )

    def close(self, code: int, reason: str) -> None:
        """Close once: drop whatever is queued (the client resyncs) and tell the socket why."""
        if self.close_code is not None:
            return
        self.close_code = code
        if self._queue is not None:
            self._queue.clear()  # the sender task ends after the send it has under way
        asyncio.get_running_loop().create_task(self._close_transport(code, reason))
        if self.on_close is not None:
            self.on_close(self)

    async def wait_closed(self) -> None:
        if self._done:
            return
        if self._closed is None:
            self._closed = asyncio.Event()
        await self._closed.wait()

    def _mark_done(self) -> None:
        self._done = True
        if self._closed is not None:
            self._closed.set()

    async def _close_transport(self, code: int, reason: str) -> None:
        try:
            # The close frame queues behind unsent data: a client that never reads would
            # hold this forever (the transport's keepalive ends such a connection later).
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self.transport.close(code, reason)
        except Exception as exc:  # the socket may already be gone; nothing else to tell it
            log.debug("peer %s close failed: %s", self.peer_id, type(exc).__name__, exc_info=exc)
        finally:
            self._mark_done()

    async def _run_sender(self, queue: deque[bytes]) -> None:
        """Send the backlog in order, then end: the next send that cannot complete at once
        starts a new one."""
        try:
            while queue and self.close_code is None:
                await self.transport.send_bytes(queue.popleft())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._send_failed(exc)
        finally:
            if self._queue is queue:
                self._queue = self._sender = None

    def _send_failed(self, exc: Exception) -> None:
        # A send to a closed socket must never take anything else down (a pitfall of
        # pycrdt-websocket): mark this peer closed; its receive loop ends the session.
        # Usually the client has gone: the stack only when debugging.
        log.info(
            "peer %s send failed (%s): closing",
            self.peer_id,
            type(exc).__name__,
            exc_info=exc if log.isEnabledFor(logging.DEBUG) else None,
        )
        self.close(CloseCode.GOING_AWAY, "send failed")

    async def stop(self) -> None:
        """Stop the sender task (after the connection has ended)."""
        if self.close_code is None:
            self.close_code = CloseCode.NORMAL
        sender = self._sender
        if sender is not None:
            sender.cancel()
            try:
                await sender
            except asyncio.CancelledError:
                pass
        self._mark_done()
