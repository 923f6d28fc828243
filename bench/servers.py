"""The servers under test, each in its own process so its CPU and memory are its own.

A *set-up* is one way to run a server (Samplan on SQLite, Samplan on PostgreSQL, two Samplan
nodes behind one Redis, a peer); a `Deployment` is a set-up running: one or more node
processes, with the clients spread over them by slot (`slot % nodes`), and the services they
need (the redis-server of "samplan-2nodes"), started first and stopped last. Every figure a
scenario reads (CPU, memory, load times, the event-loop stall) is summed or maximised over
the nodes; a service is not measured, as PostgreSQL is not.

Everything here is stopped when the benchmark stops: by `Deployment.stop` (also when a
scenario fails or the run is interrupted), and, should the benchmark die without running
it (SIGKILL), by the SIGTERM Linux sends each child when its parent dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from bench.seed import BenchRoom
from bench.wire import BenchClient, open_client, within

REPO = Path(__file__).resolve().parents[1]
PEERS_DIR = REPO / "bench" / "peers"
SAMPLAN = "samplan-sqlite"
SAMPLAN_PG = "samplan-postgres"
SAMPLAN_2NODES = "samplan-2nodes"
SAMPLAN_2NODES_ONE_ENTRY = "samplan-2nodes-one-entry"
SAMPLAN_2NODES_FORWARDING = "samplan-2nodes-forwarding"
REDIS = "redis-server"
PEER = "pycrdt-websocket"
FLOOR = "relay-floor"
Y_WEBSOCKET = "y-websocket-server"
HOCUSPOCUS = "hocuspocus"
HOCUSPOCUS_SQLITE = "hocuspocus-sqlite"
# Samplan's /metrics (Bearer token) gauge of the event loop's longest stall.
METRICS_TOKEN = "benchmark-metrics-ikke-hemmelig"
LOOP_LAG_GAUGE = "samplan_event_loop_lag_max_seconds"
# The longest durable commit and write job since the previous scrape (server/ops/metrics.py):
# read in the same scrape as the stall, which starts a new period for all three.
COMMIT_MAX_GAUGE = "samplan_commit_max_seconds"
WRITE_JOB_MAX_GAUGE = "samplan_write_job_max_seconds"
WATCHED_GAUGES = (LOOP_LAG_GAUGE, COMMIT_MAX_GAUGE, WRITE_JOB_MAX_GAUGE)
_LOADED = re.compile(r"room (\d+) loaded \((\d+) updates in tail\) in ([\d.]+) ms")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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
    profilers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # A process the nodes need (redis-server): started before them, stopped after them,
    # given no clients and not measured. Its port is fixed beforehand (the nodes' settings
    # name it); a node's is chosen when it starts.
    service: bool = False

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.port = self.port or free_port()
        env = {**os.environ, **self.env, "SAMPLAN_PORT": str(self.port)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.log_path = self.cwd / f"{self.name}-{self.port}.log"
        command = [c.replace("{port}", str(self.port)) for c in self.command]
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_stop_with_parent(os.getpid()),
                # Its own process group: a Ctrl-C in the terminal reaches the benchmark
                # alone, which stops the nodes before the Redis they flush through.
                process_group=0,
            )
        self.ps = psutil.Process(self.proc.pid)
        _wait_for_port(self.port, self.proc, self, timeout)
        self.started_seconds = time.perf_counter() - started
        return self

    def url(self, room: str, token: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{room}?token={token}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and of its live children (Samplan's compaction
        worker, crdt/fold_worker.py, does part of the server's work in one)."""
        assert self.ps is not None
        times = self.ps.cpu_times()
        total = float(times.user + times.system)
        for child in self._children():
            try:
                child_times = child.cpu_times()
            except psutil.Error:
                continue
            total += float(child_times.user + child_times.system)
        return total

    def _children(self) -> list[psutil.Process]:
        assert self.ps is not None
        try:
            return list(self.ps.children(recursive=True))
        except psutil.Error:
            return []

    def rss_bytes(self) -> int:
        assert self.ps is not None
        return int(self.ps.memory_info().rss)

    def peak_rss_bytes(self) -> int:
        """The process's high-water RSS (VmHWM) since it started; RSS now where Linux's
        /proc is not there."""
        assert self.proc is not None
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return self.rss_bytes()
        peak = self.rss_bytes()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
        # A worker process (Samplan's compaction worker) is memory the server uses too.
        for child in self._children():
            try:
                peak += int(child.memory_info().rss)
            except psutil.Error:
                continue
        return peak

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.name else ""

    def load_times_ms(self) -> dict[int, tuple[int, float]]:
        """zone id -> (updates in tail, ms) from the server's "room N loaded" log lines."""
        return {
            int(zone): (int(tail), float(ms)) for zone, tail, ms in _LOADED.findall(self.output())
        }

    def profile(self, output: Path, tool: str = "py-spy") -> None:
        """Sample this server until it stops: with py-spy (Python frames, folded stacks), or
        with Linux perf (any server: native frames, the kernel's and the child processes' too,
        each sample weighted by its CPU time; bench/perf_summary.py reads it)."""
        assert self.proc is not None
        if tool == "perf":
            command = ["perf", "record", "--quiet", "-F", "999", "-g", "-p", str(self.proc.pid)]
            command += ["--output", str(output)]
        else:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            command = [py_spy, "record", "--pid", str(self.proc.pid), "--format", "raw"]
            command += ["--output", str(output), "--rate", "250", "--nonblocking", "--threads"]
        profiler = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_stop_with_parent(os.getpid()),
        )
        self.profilers.append(profiler)

    def stop(self) -> None:
        try:
            for profiler in self.profilers:
                if profiler.poll() is None:
                    # py-spy and perf write their output on SIGINT
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(30)
        finally:
            self._stop_server()

    def _stop_server(self) -> None:
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


def _stop_with_parent(parent: int) -> Callable[[], None] | None:
    """What a child runs before exec so Linux sends it SIGTERM when the benchmark dies, even
    by SIGKILL (a test's time-out, a closed terminal), where no `finally` runs. None elsewhere.

    The signal follows the thread that started the child: the benchmark starts its servers
    from its main thread only."""
    if not sys.platform.startswith("linux"):
        return None

    def arm() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the benchmark died before the line above took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


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
    work: Path,
    database_url: str,
    secret: str,
    synchronous: str,
    log_level: str = "INFO",
    name: str = SAMPLAN,
    redis_url: str = "",
    var_dir: Path | None = None,
    forward_edits: bool = False,
) -> ServerProcess:
    env = {
        "SAMPLAN_VAR_DIR": str(var_dir or work / "var"),
        "SAMPLAN_DATABASE_URL": database_url,
        "SAMPLAN_SECRET_KEY": secret,
        "SAMPLAN_HOST": "127.0.0.1",
        "SAMPLAN_SQLITE_SYNCHRONOUS": synchronous,
        # The bench measures the server, not its limiter.
        "SAMPLAN_MESSAGES_PER_SECOND": "100000",
        "SAMPLAN_MESSAGE_BURST": "100000",
        "SAMPLAN_LOG_LEVEL": log_level,  # INFO: the "room N loaded ... in X ms" line
        "SAMPLAN_METRICS_TOKEN": METRICS_TOKEN,
    }
    if redis_url:
        env["SAMPLAN_REDIS_URL"] = redis_url
    if forward_edits:
        env["SAMPLAN_CLUSTER_FORWARD_EDITS"] = "1"
    command = [sys.executable, "-m", "server.cli", "serve"]
    return ServerProcess(name, command, env, work)


def redis_binary() -> str | None:
    """The redis-server to start, or None when it is not installed."""
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    return found if os.access(found, os.X_OK) else None


def redis_server(work: Path, binary: str) -> ServerProcess:
    """A redis-server of the benchmark's own, on a free port, its files in the work
    directory, no persistence: never the machine's shared Redis, which other work uses."""
    port = free_port()
    directory = work / f"redis-{port}"
    directory.mkdir(parents=True, exist_ok=True)
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    command += ["--save", "", "--appendonly", "no"]
    return ServerProcess(REDIS, command, {}, work, port=port, service=True)


def two_samplan_nodes(
    work: Path,
    database_url: str,
    secret: str,
    synchronous: str,
    binary: str,
    name: str = SAMPLAN_2NODES,
    forward_edits: bool = False,
) -> list[ServerProcess]:
    """samplan-2nodes: one Redis, then two `samplan serve` on one database with the same
    secret key (README, "Several nodes"), each with its own var directory."""
    redis = redis_server(work, binary)
    url = f"redis://127.0.0.1:{redis.port}/0"
    nodes = [
        samplan_server(
            work,
            database_url,
            secret,
            synchronous,
            name=f"{name}-{label}",
            redis_url=url,
            var_dir=work / f"var-{label}",
            forward_edits=forward_edits,
        )
        for label in ("a", "b")
    ]
    return [redis, *nodes]


def peer_server(work: Path) -> ServerProcess:
    command = [sys.executable, str(REPO / "bench" / "peer_pycrdt.py"), "--port", "{port}"]
    return ServerProcess(PEER, command, {}, work)


def floor_server(work: Path) -> ServerProcess:
    command = [sys.executable, str(REPO / "bench" / "relay_floor.py"), "--port", "{port}"]
    return ServerProcess(FLOOR, command, {}, work)


def node_peer(work: Path, kind: str, *extra: str) -> ServerProcess:
    """One of bench/peers/serve.mjs's servers (`node serve.mjs KIND PORT [FILE]`)."""
    command = ["node", str(PEERS_DIR / "serve.mjs"), kind, "{port}", *extra]
    return ServerProcess(kind, command, {}, work)


def node_peers_missing() -> str | None:
    """Why the Node peers cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (PEERS_DIR / "node_modules" / "@hocuspocus" / "server").is_dir():
        return "bench/peers/node_modules is missing (run scripts/setup --dev)"
    return None


@dataclass(frozen=True)
class SetUp:
    """One way to run a server under test.

    `start` returns its processes: services (`ServerProcess.service`) first, then the nodes.
    `database`: the seeded database its rooms and tokens come from ("sqlite", "postgres",
    "postgres-2nodes": each PostgreSQL set-up its own fresh database); None for a server
    that checks no token and holds rooms in memory (it is handed the SQLite seed's room
    names). `stores`: it keeps documents across a restart, so a cold load means something.
    `echoes`: it sends each update back to its sender too. `one_entry`: every edit enters at
    the first node (a connection per room there sends the other nodes' clients' edits): the
    one commit stream per zone that forwarding edits to the zone's node would give, without
    the forwarding hop it would cost.
    """

    name: str
    start: Callable[[Path], list[ServerProcess]]
    database: str | None = None
    hocuspocus: bool = False
    echoes: bool = False
    stores: bool = False
    samplan: bool = False
    one_entry: bool = False


class Deployment:
    """A set-up running: its node processes, and clients spread over them by slot."""

    def __init__(self, setup: SetUp, work: Path) -> None:
        self.setup = setup
        self.name = setup.name
        processes = setup.start(work)
        self.services = [p for p in processes if p.service]
        self.nodes = [p for p in processes if not p.service]
        self.started_seconds = 0.0
        self.loop_lag_s: float | None = None
        self.steady_lag_s: float | None = None
        # The longest commit and write job during the paced edits (what explains a tail).
        self.steady_commit_s: float | None = None
        self.steady_job_s: float | None = None
        self._steady_since: float | None = None

    def __enter__(self) -> Deployment:
        started = time.perf_counter()
        try:
            for process in (*self.services, *self.nodes):
                process.start()
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.perf_counter() - started
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the nodes (each flushes its rooms, through Redis while it is there), then the
        services; every one is stopped even when stopping another fails or is interrupted."""
        self._stop([*self.nodes, *self.services])

    @staticmethod
    def _stop(processes: list[ServerProcess]) -> None:
        if not processes:
            return
        try:
            processes[0].stop()
        finally:
            Deployment._stop(processes[1:])

    def node_for(self, slot: int) -> ServerProcess:
        return self.nodes[slot % len(self.nodes)]

    async def open(self, room: BenchRoom, slot: int, timeout: float = 30.0) -> BenchClient:
        """A client in `room` as member `slot` (handshake done; sync under way)."""
        url = self.node_for(slot).url(room.room, room.tokens[slot % len(room.tokens)])
        document = room.room if self.setup.hocuspocus else None
        return await open_client(url, slot, timeout, document=document)

    def cpu_seconds(self) -> float:
        return sum(node.cpu_seconds() for node in self.nodes)

    def rss_bytes(self) -> int:
        return sum(node.rss_bytes() for node in self.nodes)

    def peak_rss_bytes(self) -> int:
        return sum(node.peak_rss_bytes() for node in self.nodes)

    def load_times_ms(self) -> dict[int, tuple[int, float]]:
        merged: dict[int, tuple[int, float]] = {}
        for node in self.nodes:
            merged.update(node.load_times_ms())
        return merged

    def profile(self, output: Path, tool: str = "py-spy") -> None:
        """Profile every node: the first into `output`, node n into `<stem>.node<n><suffix>`
        (a two-node set-up's time is spent on both sides of Redis)."""
        for n, node in enumerate(self.nodes):
            node.profile(
                output if n == 0 else output.with_name(f"{output.stem}.node{n}{output.suffix}"),
                tool,
            )

    async def watched_max_s(self) -> dict[str, float]:
        """Each of WATCHED_GAUGES' largest value over the nodes, from one scrape of each
        node's /metrics; empty where no node answers 200 (a peer, or a Samplan without
        /metrics)."""
        if not self.setup.samplan:
            return {}
        found: dict[str, float] = {}
        for node in self.nodes:
            for gauge, value in (await scrape_gauges(node.port, WATCHED_GAUGES)).items():
                found[gauge] = max(value, found.get(gauge, value))
        return found

    async def watch_loop_lag(self, every: float = 1.0) -> float | None:
        """Scrape the stall gauge every `every` s until cancelled; the largest value seen is
        in `self.loop_lag_s` (the gauge is the maximum since the previous scrape). What a
        scrape begun after `begin_steady` reads also goes into `self.steady_lag_s`."""
        self.loop_lag_s = self.steady_lag_s = self._steady_since = None
        self.steady_commit_s = self.steady_job_s = None
        while True:
            if await self._scrape_lag() is None:
                return None  # no /metrics here: stop asking
            await asyncio.sleep(every)

    async def begin_steady(self) -> None:
        """From now on stalls count as the paced edits' own, apart from the start-up and the
        join storm before them: one scrape now closes the gauge's window up to here (its value
        counts for the whole run only). Only the first call of a scenario counts."""
        if not self.setup.samplan or self._steady_since is not None:
            return
        await self._scrape_lag()
        self._steady_since = time.perf_counter()
        self.steady_lag_s = 0.0

    async def _scrape_lag(self) -> float | None:
        begun = time.perf_counter()
        seen = await self.watched_max_s()
        value = seen.get(LOOP_LAG_GAUGE)
        if value is not None:
            self.loop_lag_s = max(value, self.loop_lag_s or 0.0)
        if self._steady_since is not None and begun >= self._steady_since:
            if value is not None:
                self.steady_lag_s = max(value, self.steady_lag_s or 0.0)
            if COMMIT_MAX_GAUGE in seen:
                self.steady_commit_s = max(seen[COMMIT_MAX_GAUGE], self.steady_commit_s or 0.0)
            if WRITE_JOB_MAX_GAUGE in seen:
                self.steady_job_s = max(seen[WRITE_JOB_MAX_GAUGE], self.steady_job_s or 0.0)
        return value


async def scrape_gauges(
    port: int, gauges: tuple[str, ...], token: str = METRICS_TOKEN
) -> dict[str, float]:
    """One GET /metrics with the bearer token: the largest value of each of `gauges` it
    holds (none unless the answer is 200)."""
    try:
        reader, writer = await within(asyncio.open_connection("127.0.0.1", port), 2)
        request = (
            f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(request.encode())
        data = await within(reader.read(), 5)
        writer.close()
    except (OSError, TimeoutError):
        return {}
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
        return {}
    found: dict[str, float] = {}
    for line in body.decode("utf-8", "replace").splitlines():
        parts = line.split()
        name = parts[0].split("{", 1)[0] if len(parts) >= 2 else ""
        if name in gauges:
            try:
                value = float(parts[1])
            except ValueError:
                continue
            found[name] = max(value, found.get(name, value))
    return found
