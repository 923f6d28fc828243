"""`samplan backup` / `samplan restore` for the SQLite default: a backup taken while a real
server takes writes opens, passes `samplan audit verify`, and holds every update confirmed
before it started; restore brings it back, and refuses while a server holds the database.
Bad input gets one clear line and exit 2."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from pycrdt import Map

from crdt.client import YClient
from crdt.zone_state import doc_from_stored
from server.services import Repositories
from server.settings import Settings
from storage.db.sqlite_file import exclusive
from storage.migrate import head_revision
from tests.conftest import make_settings
from tests.support.clients import connected
from tests.support.live import ServerProcess
from tests.support.world import World, build_world
from tests.support.writer import GOAL, ConfirmingWriter


def _env(settings: Settings) -> dict[str, str]:
    return {
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_SECRET_KEY": settings.resolved_secret_key(),
    }


def _samplan_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *args]


async def samplan(
    settings: Settings, cwd: Path, *args: str, database: Path | str | None = None
) -> tuple[int, str]:
    """Run the command line without blocking the event loop (the writers go on meanwhile).
    `database`: another SQLite file, or another database URL, than the server's."""
    env = {**os.environ, **_env(settings)}
    if isinstance(database, Path):
        env["SAMPLAN_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    elif database is not None:
        env["SAMPLAN_DATABASE_URL"] = database
    proc = await asyncio.create_subprocess_exec(
        *_samplan_args(*args),
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def _world(tmp_path: Path) -> tuple[Settings, World]:
    settings = make_settings(tmp_path)
    repos = await Repositories.open(settings)
    world = await build_world(repos, settings.resolved_secret_key())
    await repos.close()
    return settings, world


async def _keys(settings: Settings, database: Path, zone_id: int) -> set[str]:
    """The zone's goals as stored in `database`, read through the real repositories."""
    repos = await Repositories.open(
        make_settings(database.parent, database_url=f"sqlite+aiosqlite:///{database}"),
        migrate=False,
    )
    try:
        doc = doc_from_stored(await repos.zone_log.load(zone_id))
    finally:
        await repos.close()
    return set(doc.get("m", type=Map).keys())


async def test_backup_while_serving_then_restore(tmp_path: Path) -> None:
    settings, world = await _world(tmp_path)
    database = tmp_path / "samplan.sqlite3"
    zone = world.zones["area/skole"]
    room = world.room("area/skole")
    proc = ServerProcess(_env(settings), tmp_path).start()
    backup_file = tmp_path / "sikkerhetskopi æøå.sqlite3"
    try:
        client = await YClient(proc.ws_url(room, world.token("koordinator"))).connect()
        observer = await YClient(proc.ws_url(room, world.token("deltaker"))).connect()
        await client.wait_for(client.synced.is_set)
        await observer.wait_for(observer.synced.is_set)
        seen: set[str] = set()
        observed = observer.doc.get("m", type=Map)
        observer.on_update = lambda _u: seen.update(observed.keys())
        writer = ConfirmingWriter(client)
        writing = asyncio.get_running_loop().create_task(writer.run())
        await client.wait_for(lambda: writer.confirmed >= 40)

        before = writer.confirmed_keys() | set(seen)
        code, out = await samplan(settings, tmp_path, "backup", str(backup_file))
        assert code == 0, out
        assert "backup written" in out and f"schema {head_revision()}" in out
        await client.wait_for(lambda: writer.confirmed >= len(before) + 20)  # still serving

        # Restore refuses while the server holds the database, and changes nothing.
        code, out = await samplan(settings, tmp_path, "restore", str(backup_file))
        assert code == 2 and "a Samplan server is using" in out, out
        assert not _kept(tmp_path)

        writer.stop = True
        await writing
        after_backup = writer.confirmed_keys()
        await client.close()
        await observer.close()
    finally:
        proc.stop()

    # The backup: its own whole file, private, that opens and passes the audit chain check.
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    assert not backup_file.with_name(backup_file.name + ".partial").exists()
    with sqlite3.connect(backup_file) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    code, out = await samplan(settings, tmp_path, "audit", "verify", database=backup_file)
    assert code == 0 and out.startswith("OK: "), out
    assert int(out.split()[1]) > 0  # the joins were logged, and the chain holds
    in_backup = await _keys(settings, backup_file, zone)
    assert before <= in_backup, sorted(before - in_backup)[:5]
    live = await _keys(settings, database, zone)
    assert after_backup <= live
    assert len(live) > len(in_backup)  # the server went on writing after the backup

    # Restore (server stopped): the database is the backup again; the one there is kept.
    code, out = await samplan(settings, tmp_path, "restore", str(backup_file))
    assert code == 0, out
    kept = _kept(tmp_path)
    assert len(kept) == 1 and f"kept as {kept[0]}" in out
    assert await _keys(settings, kept[0], zone) == live
    assert await _keys(settings, database, zone) == in_backup
    proc.start()
    try:
        async with connected(proc.ws_url(room, world.token("planeier"))) as fresh:
            goals = fresh.doc.get("m", type=Map)
            assert set(goals.keys()) == in_backup
            assert goals["k0"] == GOAL.format(i=0)
    finally:
        proc.stop()
    code, out = await samplan(settings, tmp_path, "audit", "verify")
    assert code == 0 and out.startswith("OK: "), out


async def test_a_server_does_not_start_during_a_restore(tmp_path: Path) -> None:
    settings, _ = await _world(tmp_path)
    proc = ServerProcess(_env(settings), tmp_path)
    with exclusive(tmp_path / "samplan.sqlite3"):
        try:
            proc.start()
        except RuntimeError as exc:
            assert "server exited" in str(exc)
        else:
            proc.stop()
            raise AssertionError("the server started while a restore held the database")
    assert "a restore of the database is under way" in proc.output()
    proc.start()  # and starts once the restore is over
    proc.stop()


async def test_bad_input_gets_one_clear_line(tmp_path: Path) -> None:
    settings, _ = await _world(tmp_path)
    first = tmp_path / "første.sqlite3"
    assert (await samplan(settings, tmp_path, "backup", str(first)))[0] == 0

    async def refused(*args: str) -> str:
        code, out = await samplan(settings, tmp_path, *args)
        assert code == 2, out
        assert out.startswith("samplan: ") and out.count("\n") == 1, out
        assert "Traceback" not in out
        return out

    assert "already exists" in await refused("backup", str(first))
    assert "no such folder" in await refused("backup", str(tmp_path / "finnes-ikke" / "b.db"))
    assert "no such file" in await refused("restore", str(tmp_path / "borte.sqlite3"))
    text = tmp_path / "notat.sqlite3"
    text.write_text("Åse Ødegård 😀 er ikke en database\n" * 200)
    assert "not an SQLite database" in await refused("restore", str(text))
    other = tmp_path / "annen.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notater (tekst TEXT)")
        db.execute("INSERT INTO notater VALUES ('Åse Ødegård 😀')")
    assert "not a Samplan database" in await refused("restore", str(other))
    newer = tmp_path / "nyere.sqlite3"
    newer.write_bytes(first.read_bytes())
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE alembic_version SET version_num = '0099_fremtiden'")
    out = await refused("restore", str(newer))
    assert "made by a newer Samplan" in out and "0099_fremtiden" in out
    assert "the database itself" in await refused("restore", str(tmp_path / "samplan.sqlite3"))
    # Nothing above touched the database.
    assert not _kept(tmp_path)
    pg = "postgresql+asyncpg://samplan@127.0.0.1:1/samplan"
    for command in ("backup", "restore"):
        code, out = await samplan(settings, tmp_path, command, str(first), database=pg)
        assert code == 2 and "pg_dump" in out, out


def _kept(folder: Path) -> list[Path]:
    """The databases a restore kept aside."""
    return list(folder.glob("samplan.sqlite3.before-restore-*"))
