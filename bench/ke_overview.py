"""The KE overview at municipal scale (issue 14): 5,000 plans over 50 units, then the server
time of the overview's first page, a filtered page, the CSV (every page) and the log control.

    .venv/bin/python bench/ke_overview.py [--plans 5000] [--units 50] [--runs 7] [--work DIR]
                                          [--postgres URL [--no-sqlite]]
    samplan bench ke-overview [same options]

The database is filled by bulk inserts (not measured): plans with a koordinator, a unit, a
consent to the plan, a member with a sharing consent, meetings, a content zone and two life
areas each with its stored summary (as compaction leaves them), and 30 days of plan openings
in the access log. A real server process (`samplan serve`; SQLite with synchronous=FULL, and
with `--postgres` PostgreSQL too) answers; the figure is the request's wall time on localhost
from a logged-in client (the same machine: it includes the HTTP round trip, ~1 ms), median
of `--runs` after one warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from server.core.clock import today_oslo  # noqa: E402
from server.core.passwords import hash_password  # noqa: E402
from server.services import Repositories  # noqa: E402
from server.settings import Settings  # noqa: E402
from storage.models import (  # noqa: E402
    Consent,
    Meeting,
    Membership,
    Municipality,
    MunicipalityAdmin,
    Plan,
    PlanConsent,
    Unit,
    User,
    Zone,
    ZoneSummary,
    audit_log_table,
)

PASSWORD = "Benkvik KE-passord 🏔"
FILTERED = "unit=1&indicator=overdue.no&sort=next_revision&dir=desc"
ADMIN = "ke.admin@benkvik.bench"


def _chunks(rows: list[dict[str, object]], size: int = 2000) -> list[list[dict[str, object]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


async def seed(settings: Settings, plans: int, units: int) -> int:
    """Fill the database; returns the municipality's id."""
    rnd = random.Random(14)
    repos = await Repositories.open(settings)
    now = datetime.now(UTC)
    today = today_oslo()
    try:
        async with repos.engine.begin() as conn:
            muni = (
                await conn.execute(insert(Municipality).values(name="Benkvik kommune"))
            ).inserted_primary_key[0]
            unit_ids = []
            for i in range(units):
                result = await conn.execute(
                    insert(Unit).values(
                        municipality_id=muni, name=f"Enhet {i:02d} Ås", created_at=now
                    )
                )
                unit_ids.append(result.inserted_primary_key[0])
            coordinators = 100
            users = [
                {
                    "email": f"koordinator{i}@benkvik.bench",
                    "name": f"Kåre Koordinator {i:03d}",
                    "created_at": now,
                }
                for i in range(coordinators)
            ] + [
                {
                    "email": f"deltaker{i}@benkvik.bench",
                    "name": f"Øydis Deltaker {i:04d}",
                    "created_at": now,
                }
                for i in range(plans)
            ]
            for chunk in _chunks(users):
                await conn.execute(insert(User), chunk)
            admin = (
                await conn.execute(
                    insert(User).values(
                        email=ADMIN,
                        name="Åshild KE",
                        created_at=now,
                        password_hash=hash_password(PASSWORD),
                    )
                )
            ).inserted_primary_key[0]
            await conn.execute(
                insert(MunicipalityAdmin).values(
                    municipality_id=muni, user_id=admin, granted_at=now
                )
            )
            plan_ids = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(plans)]
            await _many(
                conn,
                Plan,
                [
                    {
                        "id": pid,
                        "municipality_id": muni,
                        "title": f"Plan {i}",
                        "person_name": f"Person {i:05d} Ærø",
                        "status": "closed" if i % 20 == 0 else "active",
                        "unit_id": unit_ids[i % units],
                        "created_at": now - timedelta(days=i % 700),
                        "access_version": 0,
                        "draft": i % 50 == 1,
                    }
                    for i, pid in enumerate(plan_ids)
                ],
            )
            members, consents, plan_consents, meetings = [], [], [], []
            for i, pid in enumerate(plan_ids):
                if i % 17:  # some plans have no koordinator
                    members.append(
                        {
                            "plan_id": pid,
                            "user_id": 1 + i % coordinators,
                            "role": "koordinator",
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                deltaker = 1 + coordinators + i
                members.append(
                    {
                        "plan_id": pid,
                        "user_id": deltaker,
                        "role": "deltaker",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                if i % 3:
                    consents.append(
                        {
                            "plan_id": pid,
                            "user_id": deltaker,
                            "status": "given",
                            "scope": '"all"',
                            "given_at": now,
                        }
                    )
                if i % 5:
                    plan_consents.append(
                        {
                            "plan_id": pid,
                            "status": "given",
                            "giver": "planeier",
                            "giver_name": "Person",
                            "method": "oral",
                            "given_on": today - timedelta(days=i % 400),
                            "recorded_at": now,
                        }
                    )
                meetings.append(
                    {
                        "id": uuid.uuid4().hex[:12],
                        "plan_id": pid,
                        "title": "Møte",
                        "starts_at": now + timedelta(days=rnd.randint(-200, 60)),
                        "created_at": now,
                        "agenda": "[]",
                        "sequence": 0,
                    }
                )
            await _many(conn, Membership, members)
            await _many(conn, Consent, consents)
            await _many(conn, PlanConsent, plan_consents)
            await _many(conn, Meeting, meetings)
            zones = []
            for pid in plan_ids:
                zones.append(
                    {
                        "plan_id": pid,
                        "kind": "content",
                        "key": "",
                        "title": "Innhold",
                        "position": 0,
                        "created_at": now,
                    }
                )
                zones.append(
                    {
                        "plan_id": pid,
                        "kind": "comments",
                        "key": "",
                        "title": "Kommentarer",
                        "position": 0,
                        "created_at": now,
                    }
                )
                for n, key in enumerate(("skole", "helse")):
                    zones.append(
                        {
                            "plan_id": pid,
                            "kind": "area",
                            "key": key,
                            "title": "Område",
                            "position": n,
                            "created_at": now,
                        }
                    )
            await _many(conn, Zone, zones)
        async with repos.engine.begin() as conn:
            from sqlalchemy import select

            rows = (await conn.execute(select(Zone.id, Zone.kind))).all()
            summaries = []
            for zone_id, kind in rows:
                day = lambda: (today + timedelta(days=rnd.randint(-300, 200))).isoformat()  # noqa: E731
                if kind == "content":
                    data = {"nextRevision": day(), "planPeriodEnd": day()}
                elif kind == "area":
                    ends = sorted(day() for _ in range(rnd.randint(0, 4)))
                    data = {
                        "openMeasureEnds": ends,
                        "openMeasures": [],
                        "upcomingReviews": [],
                        "lastEvaluation": day() if rnd.random() < 0.7 else None,
                    }
                else:
                    continue
                summaries.append(
                    {
                        "zone_id": zone_id,
                        "data": json.dumps(data),
                        "updated_at": now - timedelta(days=rnd.randint(0, 200)),
                    }
                )
            await _many(conn, ZoneSummary, summaries)
        # 30 days of plan openings (hash chain not needed for reading; written raw).
        async with repos.engine.begin() as conn:
            views = [
                {
                    "at": now - timedelta(minutes=rnd.randint(0, 30 * 24 * 60)),
                    "action": "plan_view",
                    "actor_user_id": 1 + rnd.randrange(coordinators + plans),
                    "role": "deltaker",
                    "plan_id": rnd.choice(plan_ids),
                    "details": "{}",
                    "prev_hash": "",
                    "hash": "",
                }
                for _ in range(20_000)
            ]
            await _many(conn, audit_log_table, views)
        return int(muni)
    finally:
        await repos.close()


async def _many(conn: object, table: object, rows: list[dict[str, object]]) -> None:
    for chunk in _chunks(rows):
        await conn.execute(insert(table), chunk)  # type: ignore[attr-defined]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server stopped while starting")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def _settle(pid: int, limit: float = 180.0) -> float:
    """Wait until the server is idle (under 5 % of a CPU over a second), up to `limit` s;
    returns the seconds waited. A fresh server's notifier first sends the revision reminders
    of the thousands of seeded plans (~25 s of CPU here): measured during that, the figures
    were the overview's and the notifier's."""
    started = time.monotonic()
    before = _server_cpu(pid)
    while before is not None and time.monotonic() - started < limit:
        time.sleep(1.0)
        after = _server_cpu(pid)
        if after is None or after - before < 0.05:
            break
        before = after
    return time.monotonic() - started


def _server_cpu(pid: int) -> float | None:
    """The server process's CPU seconds so far (user + system, every thread), from
    /proc (Linux); None elsewhere. In clock ticks (10 ms): `measure` reports the mean over
    its runs, not one request's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(base: str, muni: int, runs: int, pid: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        page = await http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        await http.post(
            "/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": token.group(1)}
        )
        cases = {
            "first page": f"/ke/{muni}",
            "filtered page (unit + indicator, sorted by next revision)": f"/ke/{muni}?{FILTERED}",
            "CSV (every row)": f"/ke/{muni}/overview.csv",
            "log control (30 days, 20,000 openings)": f"/ke/{muni}/access",
        }
        figures: dict[str, float] = {}
        for name, path in cases.items():
            cold: list[float] = []
            warm: list[float] = []
            cpu_of: dict[int, float] = {id(cold): 0.0, id(warm): 0.0}
            for run in range(runs + 1):
                # Saving the rules drops the evaluated rows (server/ke/overview.py caches them
                # for 10 s): the next request computes everything from the database again.
                settings_page = await http.get(f"/ke/{muni}")
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', settings_page.text)
                assert csrf
                saved = await http.post(
                    f"/ke/{muni}/settings",
                    data={
                        "csrf_token": csrf.group(1),
                        "in_use_days": str(90 + run % 2),
                        "revision_days": "365",
                    },
                )
                assert saved.status_code == 303
                for times in (cold, warm):
                    started, cpu_started = time.perf_counter(), _server_cpu(pid)
                    answer = await http.get(path)
                    elapsed = (time.perf_counter() - started) * 1000
                    cpu_ended = _server_cpu(pid)
                    if run and cpu_started is not None and cpu_ended is not None:
                        cpu_of[id(times)] += (cpu_ended - cpu_started) * 1000
                    assert answer.status_code == 200, (path, answer.status_code)
                    if run:
                        times.append(elapsed)
            figures[f"{name}, cold"] = statistics.median(cold)
            figures[f"{name}, cold, server CPU (mean)"] = cpu_of[id(cold)] / runs
            if not path.endswith("/access"):  # the log control reads the log every time
                figures[f"{name}, warm"] = statistics.median(warm)
                figures[f"{name}, warm, server CPU (mean)"] = cpu_of[id(warm)] / runs
        return figures


async def cpu(settings: Settings, muni: int, runs: int) -> dict[str, float]:
    """The same work in this process, in CPU milliseconds (time.process_time, the query's
    thread included): what the figure would be on an idle machine, whatever the load."""
    from server.core.indicators import Rules, evaluate
    from server.ke.overview import COLUMNS, PAGE_SIZE, Row, _sorted, cells
    from server.web.csv_lines import csv_text
    from server.web.i18n import translator
    from storage.repositories.plan_facts import (
        Narrowing,
        municipality_count,
        municipality_facts,
        municipality_ids_by_name,
        municipality_koordinators,
    )

    repos = await Repositories.open(settings, migrate=False)
    t = translator("nb")
    figures: dict[str, list[float]] = {
        "first page as it opens: how many plans (SQL count)": [],
        "  + the koordinators (the filter's choices)": [],
        "  + its 50 ids by name (SQL, plans.sort_key)": [],
        "  + every fact of its 50 rows": [],
        "filtered page: every fact of the unit's plans (SQL narrows)": [],
        "every fact of every plan (SQL, 3 queries)": [],
        "evaluate + sort": [],
        "first page's cells": [],
        "CSV lines (every row)": [],
    }
    try:
        for _ in range(runs):
            today, now = today_oslo(), datetime.now(UTC)
            marks = [time.process_time()]
            await municipality_count(repos.engine, muni)
            marks.append(time.process_time())
            await municipality_koordinators(repos.engine, muni)
            marks.append(time.process_time())
            ids = await municipality_ids_by_name(repos.engine, muni, limit=PAGE_SIZE)
            marks.append(time.process_time())
            await municipality_facts(repos.engine, muni, today, now, plan_ids=ids)
            marks.append(time.process_time())
            await municipality_facts(repos.engine, muni, today, now, narrowing=Narrowing(unit=1))
            marks.append(time.process_time())
            facts = await municipality_facts(repos.engine, muni, today, now)
            marks.append(time.process_time())
            rows = _sorted(
                [Row(f, evaluate(f, today, now, Rules())) for f in facts], "person", "asc"
            )
            marks.append(time.process_time())
            [cells(r, t) for r in rows[:PAGE_SIZE]]
            marks.append(time.process_time())
            shown = [cells(r, t) for r in rows]
            csv_text([[row[c] for c in COLUMNS] for row in shown])
            marks.append(time.process_time())
            for name, a, b in zip(figures, marks[:-1], marks[1:], strict=True):
                figures[name].append((b - a) * 1000)
    finally:
        await repos.close()
    return {name: statistics.median(values) for name, values in figures.items()}


def run(label: str, database_url: str, work: Path, args: argparse.Namespace) -> None:
    """Seed, serve, measure and print one database's figures."""
    env = {
        "SAMPLAN_VAR_DIR": str(work / "var"),
        "SAMPLAN_DATABASE_URL": database_url,
        "SAMPLAN_SECRET_KEY": "ke-bench-ikke-hemmelig",
    }
    settings = Settings(
        var_dir=work / "var",
        database_url=env["SAMPLAN_DATABASE_URL"],
        secret_key=env["SAMPLAN_SECRET_KEY"],
    )
    started = time.perf_counter()
    muni = asyncio.run(seed(settings, args.plans, args.units))
    print(
        f"seeded {args.plans} plans over {args.units} units on {label} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    port = _free_port()
    full_env = {
        **os.environ,
        **env,
        "SAMPLAN_PORT": str(port),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    log = (work / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"],
        cwd=work,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(port, proc)
        print(f"waited {_settle(proc.pid):.0f} s for the server's start-up work to end")
        figures = asyncio.run(measure(f"http://127.0.0.1:{port}", muni, args.runs, proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    load = os.getloadavg()[0]
    print(
        f"KE overview, {args.plans} plans, {label}, median of {args.runs}, "
        f"load average {load:.1f} on {os.cpu_count()} CPUs:"
    )
    print("  cold: the first request after a change (rows computed from the database);")
    print("  warm: the same request again within 10 s (evaluated rows reused)")
    for name, ms in figures.items():
        print(f"  {name:72s} {ms:8.1f} ms")
    if args.server_only:
        return
    print("CPU time of the same work in one process (load-independent), median:")
    for name, ms in asyncio.run(cpu(settings, muni, args.runs)).items():
        print(f"  {name:72s} {ms:8.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=5000)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--postgres",
        default=None,
        help="also on PostgreSQL: a server URL (postgresql+asyncpg://...) on which a database "
        "of a random name is created and dropped afterwards",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--server-only", action="store_true", help="the server's figures, not the steps' CPU"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="samplan-ke-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if not args.no_sqlite:
        db = work / "ke.sqlite3"
        if db.exists():
            db.unlink()
        run("SQLite (synchronous=FULL)", f"sqlite+aiosqlite:///{db}", work, args)
    if args.postgres:
        from bench.seed import create_postgres_database, drop_postgres_database

        url = asyncio.run(create_postgres_database(args.postgres))
        try:
            (work / "pg").mkdir(exist_ok=True)
            run("PostgreSQL", url, work / "pg", args)
        finally:
            asyncio.run(drop_postgres_database(args.postgres, url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
