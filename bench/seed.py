"""The benchmark's database, built through the real repositories before any server starts.

Seeding is not measured, so it runs with synchronous=NORMAL (the server under test opens its
own connections with the mode being measured; the pragma is per connection).
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pycrdt import Doc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from server.core.tokens import issue_plan_token
from server.services import Repositories
from server.settings import Settings

TOKEN_TTL_SECONDS = 6 * 3600
MUNICIPALITY = "Benkvik kommune"


@dataclass(frozen=True)
class BenchRoom:
    room: str  # "plan/<id>/content": the path after /ws/
    zone_id: int
    tokens: tuple[str, ...]  # one per client slot, each for a different member


@dataclass
class Seeded:
    rooms: dict[str, list[BenchRoom]] = field(default_factory=dict)  # scenario -> rooms
    seconds: float = 0.0


@dataclass(frozen=True)
class RoomNeed:
    """`plans` plans for one scenario, `members` writers each, zone `kind/key`, and an
    optional log history (the same updates for every such zone)."""

    scenario: str
    plans: int
    members: int
    zones_per_plan: int = 1  # > 1: area zones "<key>0", "<key>1", ... (each its own room)
    history: Sequence[bytes] = ()
    # Fold all but this many updates into a snapshot, as the server's compaction leaves a
    # zone (it compacts once the tail passes SAMPLAN_COMPACT_AFTER_UPDATES). None: raw log.
    compacted_tail: int | None = None
    zone_key: str = "cold"


def bench_settings(
    work: Path, secret: str, synchronous: str = "FULL", database_url: str | None = None
) -> Settings:
    return Settings(
        var_dir=work / "var",
        database_url=database_url or f"sqlite+aiosqlite:///{work / 'bench.sqlite3'}",
        secret_key=secret,
        sqlite_synchronous=synchronous,  # type: ignore[arg-type]
    )


async def seed(settings: Settings, needs: Sequence[RoomNeed]) -> Seeded:
    seeding = settings.replace(sqlite_synchronous="NORMAL")
    repos = await Repositories.open(seeding)
    try:
        secret = settings.resolved_secret_key()
        municipality = await repos.plans.get_or_create_municipality(MUNICIPALITY)
        most = max((need.members for need in needs), default=0)
        users = [
            (await repos.users.create(f"bruker{i}@benkvik.test", f"Bærum Øyvind Åsen {i}")).id
            for i in range(most)
        ]
        seeded = Seeded()
        for need in needs:
            rooms: list[BenchRoom] = []
            for p in range(need.plans):
                plan = await repos.plans.create_plan(
                    municipality, f"Individuell plan {need.scenario} {p}", f"Ærlig Østby {p}"
                )
                for user_id in users[: need.members]:
                    await repos.plans.add_member(plan.id, user_id, "deltaker")
                    # A deltaker opens nothing without consent (issue 4).
                    await repos.consents.give(plan.id, user_id, "all", None, None)
                tokens = tuple(
                    issue_plan_token(secret, uid, plan.id, TOKEN_TTL_SECONDS)
                    for uid in users[: need.members]
                )
                for z in range(need.zones_per_plan):
                    if need.zones_per_plan == 1:
                        zone = await repos.plans.get_zone(plan.id, "content", "")
                        room = f"plan/{plan.id}/content"
                    else:
                        zone = await repos.plans.add_zone(
                            plan.id, "area", f"{need.zone_key}{z}", f"Kald sone {z}", z
                        )
                        room = f"plan/{plan.id}/area/{need.zone_key}{z}"
                    assert zone is not None
                    if need.history:
                        seqs = await repos.zone_log.append_batch(
                            [(zone.id, u) for u in need.history]
                        )
                        if need.compacted_tail is not None:
                            folded = len(need.history) - need.compacted_tail
                            snapshot = Doc()
                            for update in need.history[:folded]:
                                snapshot.apply_update(update)
                            await repos.zone_log.compact(
                                zone.id, seqs[:folded], snapshot.get_update()
                            )
                    rooms.append(BenchRoom(room, zone.id, tokens))
            seeded.rooms[need.scenario] = rooms
        return seeded
    finally:
        await repos.close()


async def create_postgres_database(base: str) -> str:
    """A new database with a random name on the server `base` names; its URL."""
    name = f"samplan_bench_{secrets.token_hex(6)}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        await admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(base: str, url: str) -> None:
    name = make_url(url).database
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


# @hocuspocus/extension-sqlite's table (src/SQLite.ts): one row per document, its whole state.
HOCUSPOCUS_SCHEMA = """CREATE TABLE IF NOT EXISTS "documents" (
  "name" varchar(255) NOT NULL,
  "data" blob NOT NULL,
  UNIQUE(name)
)"""


def seed_hocuspocus(path: Path, documents: dict[str, bytes]) -> None:
    """Store documents as Hocuspocus's SQLite extension does (`Y.encodeStateAsUpdate` of the
    document under its name), so its cold load reads what it would have written itself."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(HOCUSPOCUS_SCHEMA)
        db.executemany(
            'INSERT INTO "documents" ("name", "data") VALUES (?, ?) '
            "ON CONFLICT(name) DO UPDATE SET data = excluded.data",
            list(documents.items()),
        )
        db.commit()
