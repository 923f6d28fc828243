"""Run the Alembic migrations from code: `samplan migrate` and server start-up call this.

There is no alembic.ini on disk; the config is built here, pointing at the migrations shipped
inside the package, so an installed wheel migrates exactly like a checkout.

Alembic is imported only when a migration may be pending: importing it costs about half a
second, which every `samplan` command and every server start paid for nothing when the
database was already up to date (issue 16). `is_current` decides that from the migration
files' own `revision` / `down_revision` lines and the database's `alembic_version`; when in
any doubt it says no, and Alembic runs as before.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Alembic's `context` and `op` are module-level proxies: two commands running at once in one
# process (say, two apps started by one test run) clobber each other's ("KeyError: 'config'").
# Across processes the database lock taken in env.py does the same job.
_ALEMBIC_LOCK = threading.Lock()


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def script_heads() -> frozenset[str] | None:
    """The head revision(s) of the shipped migrations, read from the files without Alembic;
    None when a file does not state both lines plainly (then only Alembic may decide)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        source = path.read_text("utf-8")
        found = {m.group(1): m.group(2) for m in _REVISION_LINE.finditer(source)}
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found["down_revision"])
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        down = () if down is None else (down,) if isinstance(down, str) else down
        if not isinstance(down, tuple | list) or not all(isinstance(d, str) for d in down):
            return None
        parents.update(down)
    heads = frozenset(revisions - parents)
    return heads or None


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database stands exactly at the migrations' head(s): nothing to run."""
    heads = script_heads()
    if heads is None:
        return False
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text("SELECT version_num FROM alembic_version"))
            stamped = frozenset(str(v) for v in result.scalars())
    except SQLAlchemyError:  # no such table: a new database
        return False
    return stamped == heads


async def upgrade_if_needed(engine: AsyncEngine, url: str) -> bool:
    """Migrate unless the database is already at head; True when Alembic ran."""
    if await is_current(engine):
        return False
    await engine.dispose()  # nothing of ours holds a connection across the schema change
    await upgrade(url)
    return True


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not `sqlalchemy.url`: the ini option goes through configparser
    # interpolation, which chokes on the `%` of a URL-encoded password.
    config.attributes["url"] = url
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Migrate to `revision`. Must not run on a thread with a running event loop (env.py
    starts its own); from async code use `upgrade`."""
    from alembic import command

    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(url), revision)
    log.info("database migrated to %s", revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate to `revision` from inside a running event loop, on a worker thread."""
    await asyncio.to_thread(upgrade_sync, url, revision)


def downgrade_sync(url: str, revision: str) -> None:
    """Step back to `revision` ("base" empties the database): for tests and emergencies."""
    from alembic import command

    with _ALEMBIC_LOCK:
        command.downgrade(alembic_config(url), revision)
    log.info("database downgraded to %s", revision)


def known_revision(revision: str) -> bool:
    """Whether this version's migrations know `revision` (a database made by a newer Samplan
    carries one they do not: it must not be served or restored by this one)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    return revision in {script.revision for script in scripts.walk_revisions()}


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError("no migrations are shipped")
    return head
