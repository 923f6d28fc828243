"""A TCP proxy a test can cut and restore: a database outage without touching the database.

The fault tests point the nodes' database URL at this proxy instead of at PostgreSQL (which
other work on the machine shares and which no test may stop). `cut()` drops every live
connection (both sides see a reset) and stops listening, so new connections are refused at
once, as when the database host goes away; `restore()` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger("tests.tcp_proxy")


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`, byte for byte."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.connections = 0  # accepted since start, for the test's log
        self._server: asyncio.Server | None = None
        self._live: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()  # cleared while stalled
        self._flowing.set()

    @property
    def up(self) -> bool:
        return self._server is not None

    async def start(self) -> TcpProxy:
        """Listen (on a free port the first time, on the same port after a cut)."""
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock)
        return self

    async def restore(self) -> None:
        """Listen again after a cut; forward again after a stall."""
        await self.start()
        self._flowing.set()
        log.info("proxy on %s restored", self.port)

    async def stall(self) -> None:
        """Keep every connection open and accept new ones, but forward nothing: packets that
        vanish (a partition), with no reset and no refusal to tell anyone."""
        self._flowing.clear()
        log.info("proxy on %s stalled", self.port)

    async def cut(self) -> None:
        """Refuse new connections and reset every live one (no goodbye on either side)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._live):
            _reset(writer)
        self._live.clear()
        for task in list(self._tasks):
            task.cancel()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        log.info("proxy on %s cut", self.port)

    async def stop(self) -> None:
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted in the moment of a cut
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _reset(writer)
            return
        self.connections += 1
        self._live.update((writer, up_writer))
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await asyncio.gather(
                _pipe(reader, up_writer, self._flowing), _pipe(up_reader, writer, self._flowing)
            )
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            for w in (writer, up_writer):
                self._live.discard(w)
                _reset(w)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event
) -> None:
    try:
        while data := await reader.read(65536):
            await flowing.wait()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a vanished host's connections end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    with contextlib.suppress(Exception):
        transport.abort()


class ProxyThread:
    """A TcpProxy on an event loop of its own thread: the test's loop may block (starting a
    node, a synchronous /healthz call) without stalling the database traffic it forwards."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.proxy = TcpProxy(target_host, target_port)
        self._call(self.proxy.start())

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def connections(self) -> int:
        return self.proxy.connections

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def cut(self) -> None:
        await asyncio.to_thread(self._call, self.proxy.cut())

    async def restore(self) -> None:
        await asyncio.to_thread(self._call, self.proxy.restore())

    async def stall(self) -> None:
        await asyncio.to_thread(self._call, self.proxy.stall())

    def close(self) -> None:
        try:
            self._call(self.proxy.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


@contextlib.contextmanager
def proxied(database_url: str) -> Iterator[tuple[ProxyThread, str]]:
    """A proxy in front of the database `database_url` names, and the URL through it."""
    url = make_url(database_url)
    proxy = ProxyThread(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield (
            proxy,
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )
    finally:
        proxy.close()
