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
    def send_bytes(self, data: bytes) -> Awaitable[None]: ...

    async def close(self, code: int, reason: str) -> None: ...


class Peer:
    """The room's handle on one connection. `can_write` may change while open (role change)."""

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
        self._queue: deque[bytes] = deque()
        self._busy = False  # the sender task has a send under way: new frames queue behind it
        self._wakeup = asyncio.Event()
        self._closed = asyncio.Event()
        self._sender = asyncio.get_running_loop().create_task(
            self._run_sender(), name=f"sender {peer_id}"
        )

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def send(self, frame: bytes) -> None:
        """Send without waiting; close the peer if it cannot keep up.

        When nothing is queued the transport's send is driven right here: with uvicorn it
        completes without suspending while the socket is writable, which saves a task
        wake-up per delivery (the largest cost of a fan-out). A send that would block is
        abandoned before it wrote anything (uvicorn waits for writability first; were a
        server to suspend after writing, the frame would go twice, which Yjs updates and
        awareness tolerate) and the frame goes to the sender task instead, in order.
        """
        if self.close_code is not None:
            return
        if self._busy or self._queue:
            if len(self._queue) >= self.max_queued_frames:
                log.warning(
                    "peer %s too slow (%d frames queued): closing", self.peer_id, len(self._queue)
                )
                self.close(CloseCode.TRY_AGAIN_LATER, "too slow")
                return
            self._queue.append(frame)
            self._wakeup.set()
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
        self._busy = True
        self._queue.append(frame)
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        """Close once: drop whatever is queued (the client resyncs) and tell the socket why."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._queue.clear()
        self._wakeup.set()
        asyncio.get_running_loop().create_task(self._close_transport(code, reason))
        if self.on_close is not None:
            self.on_close(self)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def _close_transport(self, code: int, reason: str) -> None:
        try:
            # The close frame queues behind unsent data: a client that never reads would
            # hold this forever (the transport's keepalive ends such a connection later).
            await asyncio.wait_for(self.transport.close(code, reason), CLOSE_TIMEOUT_SECONDS)
        except Exception as exc:  # the socket may already be gone; nothing else to tell it
            log.debug("peer %s close failed: %s", self.peer_id, type(exc).__name__, exc_info=exc)
        finally:
            self._closed.set()

    async def _run_sender(self) -> None:
        queue = self._queue
        try:
            while self.close_code is None:
                if queue:
                    self._busy = True
                    await self.transport.send_bytes(queue.popleft())
                else:
                    self._busy = False
                    self._wakeup.clear()
                    await self._wakeup.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._send_failed(exc)

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
        self._wakeup.set()
        self._sender.cancel()
        try:
            await self._sender
        except asyncio.CancelledError:
            pass
        self._closed.set()
