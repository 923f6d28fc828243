"""Drive the official Yjs client (tests/interop/yclient.mjs, one Node process each) from asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

log = logging.getLogger("tests.node")

INTEROP_DIR = Path(__file__).resolve().parent.parent / "interop"
SCRIPT = INTEROP_DIR / "yclient.mjs"
# The packages yclient.mjs imports; `scripts/setup --dev` installs them with `npm ci`.
PACKAGES = ("yjs", "y-websocket", "y-protocols", "ws")


class NodeClientError(RuntimeError):
    """The Node client answered a command with ok: false, or died."""


def node_available() -> str | None:
    """Why the Node client cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    missing = [
        p for p in PACKAGES if not (INTEROP_DIR / "node_modules" / p / "package.json").exists()
    ]
    if missing:
        return (
            f"npm packages missing in {INTEROP_DIR} ({', '.join(missing)}): run scripts/setup --dev"
        )
    return None


def require_node() -> None:
    """Skip without Node on a laptop; fail in CI (SAMPLAN_REQUIRE_SERVICES=1), where it must be."""
    reason = node_available()
    if reason is None:
        return
    if os.environ.get("SAMPLAN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (SAMPLAN_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


class NodeYClient:
    """One `WebsocketProvider` in a Node process, spoken to in JSON lines (see yclient.mjs)."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.client_id = 0  # the Yjs clientID, known once the process says "ready"
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        self._ended = False
        self._tasks = [
            asyncio.get_running_loop().create_task(self._read_stdout()),
            asyncio.get_running_loop().create_task(self._read_stderr()),
        ]

    @classmethod
    async def start(
        cls,
        base_url: str,
        room: str,
        token: str | None,
        *,
        connect: bool = True,
        name: str = "node",
    ) -> NodeYClient:
        """Start the process; `connect=False` leaves it waiting for a `connect` command."""
        args = [str(SCRIPT), base_url, room, *([token] if token else [])]
        if not connect:
            args.append("--no-connect")
        proc = await asyncio.create_subprocess_exec(
            "node",
            *args,
            cwd=INTEROP_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        client = cls(proc, name)
        try:
            await client.wait_for(lambda: client._ready.is_set() or client._ended, timeout=30)
            if not client._ready.is_set():
                raise NodeClientError(f"{name}: did not start; stderr: {client.stderr_text()}")
        except BaseException:
            await client.close()
            raise
        return client

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    log.warning("%s: not a JSON line on stdout: %r", self.name, line)
                    continue
                self._dispatch(message)
        finally:
            self._ended = True
            error = NodeClientError(f"{self.name}: process ended; stderr: {self.stderr_text()}")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)
            self._changed.set()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "event" in message:
            message["at"] = time.perf_counter()
            self.events.append(message)
            if message["event"] == "ready":
                self.client_id = int(message["clientId"])
                self._ready.set()
        else:
            future = self._pending.pop(int(message.get("id") or 0), None)
            if future is not None and not future.done():
                future.set_result(message)
        self._changed.set()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.stderr.append(text)
            log.info("%s stderr: %s", self.name, text)

    def stderr_text(self) -> str:
        return "\n".join(self.stderr[-20:]) or "(empty)"

    async def call(self, cmd: str, timeout: float = 30.0, **args: Any) -> dict[str, Any]:
        """Send one command; return its answer, or raise NodeClientError with the Node error."""
        if self.proc.returncode is not None or self.proc.stdin is None:
            raise NodeClientError(f"{self.name}: process has exited; stderr: {self.stderr_text()}")
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({"id": request_id, "cmd": cmd, **args}, ensure_ascii=False) + "\n"
        self.proc.stdin.write(line.encode())
        await self.proc.stdin.drain()
        try:
            answer = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        if not answer.get("ok"):
            raise NodeClientError(f"{self.name}: {cmd} failed: {answer.get('error')}")
        return answer

    # Small conveniences over call().
    async def text(self, name: str = "t") -> str:
        return str((await self.call("get", name=name))["text"])

    async def insert(self, text: str, index: int | None = None, name: str = "t") -> None:
        """Insert at `index` in UTF-16 code units (JavaScript's), or append when None."""
        await self.call(
            "insert", name=name, text=text, **({} if index is None else {"index": index})
        )

    async def others(self) -> dict[int, Any]:
        """The awareness states of the other clients, by client id."""
        states = (await self.call("awareness"))["states"]
        return {int(k): v for k, v in states.items()}

    async def set_awareness(self, state: dict[str, Any] | None) -> None:
        await self.call("setAwareness", state=state)

    async def wait_synced(self, timeout: float = 30.0) -> float:
        """Wait for `synced` (the server's sync step 2 came); return the seconds it took."""
        started = time.perf_counter()
        await self.call("waitSynced", timeout=timeout + 5, timeoutMs=int(timeout * 1000))
        return time.perf_counter() - started

    async def synced(self) -> bool:
        return bool((await self.call("status"))["synced"])

    def close_codes(self) -> list[int | None]:
        """Close codes of the connections that ended (None: closed by this client)."""
        return [e["code"] for e in self.events if e["event"] == "connection-close"]

    def denials(self) -> list[str]:
        """Reasons of the permission-denied auth messages the server sent."""
        return [e["reason"] for e in self.events if e["event"] == "denied"]

    async def wait_for(
        self, predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 30.0
    ) -> float:
        """Wait until `predicate()` (sync or async) holds; return the seconds it took.

        The predicate is re-checked whenever the Node client reports anything (every update and
        awareness change is reported) and at least every 50 ms.
        """
        started = time.perf_counter()
        deadline = started + timeout
        while True:
            self._changed.clear()
            result = predicate()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return time.perf_counter() - started
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(
                    f"{self.name}: condition not met in {timeout} s; "
                    f"last events: {self.events[-5:]}; stderr: {self.stderr_text()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    def kill(self) -> None:
        """SIGKILL: the socket closes with no goodbye at all, as when a laptop lid shuts."""
        if self.proc.returncode is None:
            self.proc.kill()

    async def close(self) -> None:
        """Quit politely if it still listens, and kill it if it does not exit promptly."""
        try:
            if self.proc.returncode is None and self.proc.stdin is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.call("quit"), 2)
                    await asyncio.wait_for(self.proc.wait(), 2)
        finally:
            self.kill()
            await self.proc.wait()
            for task in self._tasks:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(task, 2)
