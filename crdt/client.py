"""A small y-websocket client over pycrdt: for integrations, tests and the benchmark.

It speaks the same protocol as the browser's WebsocketProvider: on open it sends sync
step 1, answers the server's step 1 with step 2, sends local changes as updates, and
keeps a table of the awareness states it has been told about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import websockets
from pycrdt import Doc, Subscription, TransactionEvent

from crdt.awareness import AwarenessEntry
from crdt.protocol import (
    Auth,
    Awareness,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
)

log = logging.getLogger("samplan.client")

_REMOTE = "remote"


class YClient:
    def __init__(self, url: str, doc: Doc[Any] | None = None) -> None:
        self.url = url
        self.doc: Doc[Any] = doc if doc is not None else Doc()
        self.awareness: dict[int, dict[str, Any]] = {}
        self.awareness_clocks: dict[int, int] = {}
        self.synced = asyncio.Event()
        self.denied: list[str] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.on_update: Callable[[bytes], None] | None = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._subscription: Subscription | None = None
        self._applying_remote = False
        self._clock = 0
        self._sending: set[asyncio.Task[None]] = set()

    async def connect(self, **kwargs: Any) -> YClient:
        self._ws = await websockets.connect(
            self.url, max_size=None, compression=None, open_timeout=30, **kwargs
        )
        self._subscription = self.doc.observe(self._on_local)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self._send(encode_sync_step1(self.doc.get_state()))  # the server may refuse first
        return self

    async def __aenter__(self) -> YClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _on_local(self, event: TransactionEvent) -> None:
        if self._applying_remote or self._ws is None:
            return
        update = event.update
        if update != b"\x00\x00":
            task = asyncio.get_running_loop().create_task(self._send(encode_sync_update(update)))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, frame: bytes) -> None:
        try:
            await self._ws.send(frame)
        except websockets.ConnectionClosed:
            pass

    async def send_raw(self, frame: bytes | str) -> None:
        await self._ws.send(frame)

    def _apply_remote(self, update: bytes) -> None:
        self._applying_remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._applying_remote = False
        if self.on_update is not None:
            self.on_update(update)

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                if isinstance(frame, str):
                    continue
                message = decode_message(frame)
                if isinstance(message, SyncStep1):
                    await self._ws.send(
                        encode_sync_step2(self.doc.get_update(message.state_vector))
                    )
                elif isinstance(message, SyncStep2):
                    self._apply_remote(message.update)
                    self.synced.set()
                elif isinstance(message, SyncUpdate):
                    self._apply_remote(message.update)
                elif isinstance(message, Awareness):
                    self._apply_awareness(message.entries)
                elif isinstance(message, Auth):
                    self.denied.append(message.denied_reason)
                elif isinstance(message, QueryAwareness):
                    pass
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code or 1006
            self.close_reason = self._ws.close_reason or ""
            self._changed.set()

    def _apply_awareness(self, entries: tuple[AwarenessEntry, ...]) -> None:
        for entry in entries:
            if entry.removed:
                self.awareness.pop(entry.client_id, None)
            else:
                self.awareness[entry.client_id] = json.loads(entry.state_json)
            self.awareness_clocks[entry.client_id] = entry.clock

    async def set_awareness(
        self, state: dict[str, Any] | None, client_id: int | None = None
    ) -> None:
        self._clock += 1
        cid = self.doc.client_id if client_id is None else client_id
        entry = AwarenessEntry(cid, self._clock, json.dumps(state, ensure_ascii=False))
        await self._ws.send(encode_awareness([entry]))

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> float:
        """Wait until `predicate()` holds; return the seconds it took (for the test log)."""
        started = time.perf_counter()
        deadline = started + timeout
        while not predicate():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("condition not met in time")
            self._changed.clear()
            if predicate():
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.25)):
                    await self._changed.wait()
        return time.perf_counter() - started

    async def confirm(self, timeout: float = 30.0) -> bool:
        """Wait until every local change made so far is durable on the server: send them, then
        a sync step 1, whose step 2 reply the server holds back until everything it applied
        before is durable (DESIGN §4). False when the socket closed first (then nothing is
        confirmed: the changes may or may not have been stored)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        self.synced.clear()
        await self._send(encode_sync_step1(self.doc.get_state()))
        await self.wait_for(lambda: self.synced.is_set() or self.close_code is not None, timeout)
        return self.synced.is_set()

    async def wait_closed(self, timeout: float = 30.0) -> int:
        await self.wait_for(lambda: self.close_code is not None, timeout)
        assert self.close_code is not None
        return self.close_code

    async def close(self) -> None:
        """Close after sending every local change made so far (a closing editor loses nothing)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self._subscription is not None:
            self.doc.unobserve(self._subscription)
            self._subscription = None
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
