"""Run the Alembic migrations from code: `samplan migrate` and server start-up call this.

There is no alembic.ini on disk; the config is built here, pointing at the migrations shipped
inside the package, so an installed wheel migrates exactly like a checkout.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Alembic's `context` and `op` are module-level proxies: two commands running at once in one
# process (say, two apps started by one test run) clobber each other's ("KeyError: 'config'").
# Across processes the database lock taken in env.py does the same job.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not `sqlalchemy.url`: the ini option goes through configparser
    # interpolation, which chokes on the `%` of a URL-encoded password.
    config.attributes["url"] = url
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Migrate to `revision`. Must not run on a thread with a running event loop (env.py
    starts its own); from async code use `upgrade`."""
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(url), revision)
    log.info("database migrated to %s", revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate to `revision` from inside a running event loop, on a worker thread."""
    await asyncio.to_thread(upgrade_sync, url, revision)


def downgrade_sync(url: str, revision: str) -> None:
    """Step back to `revision` ("base" empties the database): for tests and emergencies."""
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
