"""What a serving process holds at rest (issue 16): after start-up, before any plan is loaded,
none of the packages that only a rare path needs. Pinned by module names in a subprocess, never
by RSS or time (the machine decides those); docs/BENCHMARKS.md, "Memory at rest", has the MB.

- weasyprint: the PDF export, in its own worker process (server/transfer/pdf.py);
- alembic: a pending migration only (storage/migrate.py `is_current`);
- joserfc, cryptography, authlib, httpx: an OIDC log-in (server/auth/oidc.py);
- icalendar: a meeting's calendar file, downloaded or mailed (server/meetings/ics.py);
- redis: several nodes only (SAMPLAN_REDIS_URL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

AT_REST_NEVER = (
    "weasyprint",
    "alembic",
    "joserfc",
    "cryptography",
    "authlib",
    "httpx",
    "icalendar",
    "redis",
)

# The app as `samplan serve` builds it, through its whole lifespan start-up (services,
# warm-up, gc.freeze) and back down; then the modules loaded, on stderr.
PROBE = """
import asyncio, json, sys
import server.cli
from server.app import create_app

async def lifespan(app):
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []
    started = asyncio.Event()
    stop = asyncio.Event()

    async def receive():
        event = next(events)
        if event["type"] == "lifespan.shutdown":
            await stop.wait()
        return event

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            started.set()
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message.get("message"))

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    run = asyncio.ensure_future(app(scope, receive, send))
    await asyncio.wait_for(started.wait(), 60)
    modules = sorted(sys.modules)
    stop.set()
    await asyncio.wait_for(run, 60)
    return modules, sent

modules, sent = asyncio.run(lifespan(create_app()))
print(json.dumps({"sent": sent, "modules": modules}), file=sys.stderr)
"""


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_started_server_holds_none_of_the_rare_paths_packages(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SAMPLAN_VAR_DIR": str(tmp_path / "var æøå 😀"),
        "SAMPLAN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'at rest.sqlite3'}",
    }
    for name in list(env):  # a single node, as `samplan serve` starts by default
        if name.upper() in ("SAMPLAN_REDIS_URL", "SAMPLAN_OIDC_ISSUER"):
            del env[name]
    # Every start but a new database's first: the schema is at head, Alembic is not needed.
    migrated = _run(env, "-m", "server.cli", "migrate")
    assert migrated.returncode == 0, migrated.stderr

    done = _run(env, "-c", PROBE)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["sent"][0] == "lifespan.startup.complete", report["sent"]
    modules = set(report["modules"])
    assert {"sqlalchemy", "pycrdt", "starlette", "jinja2", "server.services"} <= modules
    loaded = sorted(m for m in modules if m.split(".")[0] in AT_REST_NEVER)
    assert loaded == [], loaded
