"""The servers under test, each in its own process so its CPU and memory are its own."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[1]
SAMPLAN = "samplan"
PEER = "pycrdt-websocket"
FLOOR = "relay-floor"
_LOADED = re.compile(r"room (\d+) loaded \((\d+) updates in tail\) in ([\d.]+) ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    ps: psutil.Process | None = None
    log_path: Path = field(default_factory=Path)
    started_seconds: float = 0.0
    profiler: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.port = free_port()
        env = {**os.environ, **self.env, "SAMPLAN_PORT": str(self.port)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.log_path = self.cwd / f"{self.name}-{self.port}.log"
        command = [c.replace("{port}", str(self.port)) for c in self.command]
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.ps = psutil.Process(self.proc.pid)
        _wait_for_port(self.port, self.proc, self, timeout)
        self.started_seconds = time.perf_counter() - started
        return self

    def url(self, room: str, token: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{room}?token={token}"

    def cpu_seconds(self) -> float:
        assert self.ps is not None
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        assert self.ps is not None
        return int(self.ps.memory_info().rss)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.name else ""

    def load_times_ms(self) -> dict[int, tuple[int, float]]:
        """zone id -> (updates in tail, ms) from the server's "room N loaded" log lines."""
        return {
            int(zone): (int(tail), float(ms)) for zone, tail, ms in _LOADED.findall(self.output())
        }

    def profile(self, output: Path) -> None:
        """Sample this server with py-spy (CPU only, folded stacks) until it stops."""
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        assert self.proc is not None
        command = [py_spy, "record", "--pid", str(self.proc.pid), "--format", "raw"]
        command += ["--output", str(output), "--rate", "250", "--nonblocking", "--threads"]
        self.profiler = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> None:
        if self.profiler is not None and self.profiler.poll() is None:
            self.profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            self.profiler.wait(30)
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_for_port(
    port: int, proc: subprocess.Popen[bytes], server: ServerProcess, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {proc.returncode}:\n{server.output()[-3000:]}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    server.stop()
    raise TimeoutError(f"{server.name}: nothing listening on port {port}")


def samplan_server(
    work: Path, database_url: str, secret: str, synchronous: str, log_level: str = "INFO"
) -> ServerProcess:
    env = {
        "SAMPLAN_VAR_DIR": str(work / "var"),
        "SAMPLAN_DATABASE_URL": database_url,
        "SAMPLAN_SECRET_KEY": secret,
        "SAMPLAN_HOST": "127.0.0.1",
        "SAMPLAN_SQLITE_SYNCHRONOUS": synchronous,
        # The bench measures the server, not its limiter.
        "SAMPLAN_MESSAGES_PER_SECOND": "100000",
        "SAMPLAN_MESSAGE_BURST": "100000",
        "SAMPLAN_LOG_LEVEL": log_level,  # INFO: the "room N loaded ... in X ms" line
    }
    command = [sys.executable, "-m", "server.cli", "serve"]
    return ServerProcess(SAMPLAN, command, env, work)


def peer_server(work: Path) -> ServerProcess:
    command = [sys.executable, str(REPO / "bench" / "peer_pycrdt.py"), "--port", "{port}"]
    return ServerProcess(PEER, command, {}, work)


def floor_server(work: Path) -> ServerProcess:
    command = [sys.executable, str(REPO / "bench" / "relay_floor.py"), "--port", "{port}"]
    return ServerProcess(FLOOR, command, {}, work)
