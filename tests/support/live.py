"""A real uvicorn server for tests: in this event loop (to inspect its rooms) or as a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from server.app import create_app
from server.services import Services
from server.settings import Settings
from tests.support.waiting import wait_for


@dataclass
class LiveServer:
    settings: Settings
    port: int
    server: uvicorn.Server

    @property
    def services(self) -> Services:
        app = self.server.config.loaded_app
        while not hasattr(app, "state"):  # under uvicorn's proxy-headers middleware, if on
            app = app.app
        return app.state.services  # type: ignore[no-any-return]

    def ws_url(self, room: str, token: str | None = None) -> str:
        query = f"?token={token}" if token else ""
        return f"ws://127.0.0.1:{self.port}/ws/{room}{query}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def uvicorn_config(app: object, settings: Settings, port: int) -> uvicorn.Config:
    trust_proxies, trusted = settings.proxy_headers()
    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws_max_size=settings.max_frame_bytes + 64 * 1024,
        ws_per_message_deflate=False,
        log_config=None,
        lifespan="on",
        proxy_headers=trust_proxies,
        forwarded_allow_ips=trusted,
    )


@contextlib.asynccontextmanager
async def serving(
    make_config: Callable[[int], uvicorn.Config],
) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    """Run uvicorn in this event loop on a free port until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(make_config(port))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise TimeoutError("server did not start")
        await asyncio.sleep(0.01)
    try:
        yield server, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@contextlib.asynccontextmanager
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(settings)
    async with serving(lambda port: uvicorn_config(app, settings, port)) as (server, port):
        live = LiveServer(settings, port, server)
        if settings.reminder_interval_seconds > 0:
            # The start-up reminders round is over before a test begins, so a test that saves
            # summaries and runs the job itself never races it (CI once saw the round record
            # a reminder between a test's two summaries).
            await wait_for(
                lambda: live.services.reminders.scheduled_rounds >= 1,
                timeout=30,
                what="the start-up reminders round",
            )
        yield live


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`samplan serve` in a child process, for tests that must kill it (SIGKILL) or use the CLI."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = cwd / f"server-{self.port}.log"

    def start(self) -> ServerProcess:
        self.port = free_port()
        env = {
            **os.environ,
            **self.env,
            "SAMPLAN_PORT": str(self.port),
            "SAMPLAN_HOST": "127.0.0.1",
        }
        self.log_path = self.cwd / f"server-{self.port}.log"
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            cwd=self.cwd,
            env=env,
            stdout=log,
            stderr=log,
        )
        wait_for_port(self.port, self.proc)
        return self

    def ws_url(self, room: str, token: str | None = None) -> str:
        query = f"?token={token}" if token else ""
        return f"ws://127.0.0.1:{self.port}/ws/{room}{query}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port}")
