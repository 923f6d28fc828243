"""Several real server processes on one PostgreSQL database and a Redis of the test's own.

Each test starts its own `redis-server` on a free port in a temp dir (never the machine's
shared Redis, which other work may use), a fresh PostgreSQL database, and `samplan serve`
processes that share both. Without PostgreSQL or the redis-server binary the tests skip,
and fail under SAMPLAN_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.services import Repositories
from tests.conftest import make_settings, skip_or_fail
from tests.support.live import ServerProcess, free_port, wait_for_port
from tests.support.passwords import hash_password
from tests.support.postgres import fresh_postgres_database, postgres_base_url
from tests.support.web import PASSWORD
from tests.support.world import ROLE_USERS, World, build_world

log = logging.getLogger("tests.cluster")

SECRET = "test-secret-ikke-hemmelig"
# The nodes run this checkout's code, whatever an editable install elsewhere points at.
ROOT = Path(__file__).resolve().parents[2]


class RedisServer:
    """A redis-server of this test's own on a fixed free port, without persistence; it can be
    stopped and started again on the same port (a Redis restart).

    It has a password of its own: while it is stopped another test (another xdist worker)
    may start its Redis on the freed port, and a node that reconnected to that one would
    hear and publish there; with the password it is refused, as from no Redis at all."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.url = f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--requirepass", self.password]
            + ["--dir", str(self.directory), "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=log,
        )
        log.close()
        wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        skip_or_fail("redis-server is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(binary, directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Cluster:
    world: World
    repos: Repositories
    database_url: str
    redis: RedisServer
    base: Path
    nodes: list[ServerProcess] = field(default_factory=list)

    def node(self, name: str, **settings: object) -> ServerProcess:
        """Start one more node (`settings` become SAMPLAN_* variables)."""
        directory = self.base / name
        directory.mkdir(parents=True, exist_ok=True)
        env = {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "SAMPLAN_VAR_DIR": str(directory / "var"),
            "SAMPLAN_DATABASE_URL": self.database_url,
            "SAMPLAN_REDIS_URL": self.redis.url,
            "SAMPLAN_SECRET_KEY": SECRET,
            "SAMPLAN_ROOM_GRACE_SECONDS": "0.3",
            # Far apart on purpose: what crosses nodes at once must cross through Redis,
            # not through the access-version poll (the safety net).
            "SAMPLAN_ACCESS_POLL_SECONDS": "60",
            **{f"SAMPLAN_{key.upper()}": str(value) for key, value in settings.items()},
        }
        proc = ServerProcess(env, directory).start()
        self.nodes.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.nodes:
            proc.stop()


def health(node: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/healthz", timeout=10) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def http_base(node: ServerProcess) -> str:
    return f"http://127.0.0.1:{node.port}"


@contextlib.asynccontextmanager
async def cluster(base: Path) -> AsyncIterator[Cluster]:
    """A fresh PostgreSQL database holding the test world (every role user's password is
    tests.support.web.PASSWORD), a Redis of its own; nodes are started by the test."""
    pg = postgres_base_url()
    if pg is None:
        skip_or_fail("SAMPLAN_TEST_POSTGRES_URL is not set")
        raise AssertionError("unreachable")
    with redis_server(base / "redis") as redis:
        async with fresh_postgres_database(pg) as database_url:
            setup = make_settings(base / "setup", database_url=database_url)
            repos = await Repositories.open(setup)  # migrates once, before any node starts
            try:
                world = await build_world(repos, SECRET)
                for role in ROLE_USERS:
                    await repos.users.set_password_hash(world.users[role], hash_password(PASSWORD))
                running = Cluster(world, repos, database_url, redis, base)
                try:
                    yield running
                except BaseException:
                    for proc in running.nodes:  # what the nodes said, for the failure report
                        lines = [ln for ln in proc.output().splitlines() if "/healthz" not in ln]
                        log.error("node on port %s:\n%s", proc.port, "\n".join(lines[-60:]))
                    raise
                finally:
                    running.stop()
            finally:
                await repos.close()
