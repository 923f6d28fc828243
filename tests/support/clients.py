"""Helpers for tests that drive Python y-websocket clients against a live server."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import websockets
from pycrdt import Doc, Text

from crdt.client import YClient
from tests.support.database import scalar

log = logging.getLogger("tests")


@asynccontextmanager
async def connected(url: str, *, wait_sync: bool = True) -> AsyncIterator[YClient]:
    client = YClient(url)
    await client.connect()
    try:
        if wait_sync:
            await client.wait_for(client.synced.is_set)
        yield client
    finally:
        await client.close()


def text_of(client: YClient, name: str = "t") -> str:
    return str(client.doc.get(name, type=Text))


def log_rows(where: str | Path | Any, zone_id: int | None = None) -> int:
    """Count update-log rows straight from the database (a separate, real reader): `where` is
    its URL, a SQLite file, or the server/settings (tests/support/database.py)."""
    if zone_id is None:
        return int(scalar(where, "SELECT count(*) FROM zone_updates"))
    found = scalar(where, "SELECT count(*) FROM zone_updates WHERE zone_id = :z", {"z": zone_id})
    return int(found)


CHUNK = re.compile(r"\[([^\]:\[]+):(\d+) [^\]]*\]")


class Reconnecting:
    """A client that does what the y-websocket provider does when its socket ends: it keeps
    its Y.Doc (and every edit in it), connects again after a short backoff and syncs, so its
    sync step 2 carries whatever the server has not stored. `urls` are tried in turn, as a
    load balancer sends a reconnect to a node that is alive.

    It writes numbered chunks "[who:i æøå😀]" at the end of text "t" while `writing`, and
    keeps which chunks of the others it has seen arrive from the server (`seen`): the tests'
    measure of "everything any client saw".
    """

    def __init__(self, name: str, urls: list[str]) -> None:
        self.name = name
        self.urls = urls
        self.doc: Doc[Any] = Doc()
        self.client: YClient | None = None
        self.closes: list[int] = []  # close codes of the connections that ended
        self.reasons: list[str] = []  # and their close reasons
        self.connections = 0
        self.written: list[str] = []
        self.seen: set[str] = set()
        self.writing = True
        self._url_index = 0
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def text(self) -> str:
        return str(self.doc.get("t", type=Text))

    @property
    def synced(self) -> bool:
        client = self.client
        return client is not None and client.synced.is_set() and client.close_code is None

    def _observe(self, _: bytes) -> None:
        for who, i in CHUNK.findall(self.text):
            if who != self.name:
                self.seen.add(f"{who}:{i}")

    async def start(self, *, pace: float = 0.03) -> Reconnecting:
        await self._connect_until_synced()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._supervise()), loop.create_task(self._write(pace))]
        return self

    async def _connect_until_synced(self) -> None:
        backoff = 0.1
        while not self._stopping:
            url = self.urls[self._url_index % len(self.urls)]
            client = YClient(url, self.doc)
            client.on_update = self._observe
            try:
                await client.connect()
                await client.wait_for(
                    lambda c=client: c.synced.is_set() or c.close_code is not None, timeout=15
                )
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                log.info("%s: connect failed: %s", self.name, type(exc).__name__)
                await client.close()
                self._url_index += 1  # the next node, as a load balancer would
            else:
                if client.synced.is_set() and client.close_code is None:
                    self.client = client
                    self.connections += 1
                    return
                self.closes.append(client.close_code or 1006)
                self.reasons.append(client.close_reason)
                await client.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _supervise(self) -> None:
        while not self._stopping:
            client = self.client
            assert client is not None
            await client.wait_for(lambda c=client: c.close_code is not None or self._stopping, 3600)
            if self._stopping:
                return
            self.closes.append(client.close_code or 1006)
            self.reasons.append(client.close_reason)
            log.info("%s: connection closed with %s", self.name, client.close_code)
            self.client = None
            await client.close()  # stops sending from this doc; the edits stay in it
            await self._connect_until_synced()

    async def _write(self, pace: float) -> None:
        text = self.doc.get("t", type=Text)
        i = 0
        while not self._stopping:
            if self.writing:
                chunk = f"[{self.name}:{i} æøå😀]"
                text.insert(len(text), chunk)
                self.written.append(f"{self.name}:{i}")
                i += 1
            await asyncio.sleep(pace)

    async def confirm(self, timeout: float = 30.0) -> None:
        """Wait until every edit in this client's doc is durable on the server it is on."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client = self.client
            if client is not None and await client.confirm(timeout=deadline - time.monotonic()):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name}: edits not confirmed in {timeout} s")

    async def close(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.close()


def chunks_in(text: str) -> set[str]:
    """The chunk ids ("who:i") a text holds."""
    return {f"{who}:{i}" for who, i in CHUNK.findall(text)}
