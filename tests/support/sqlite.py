"""A fresh SQLite database file already at the migrations' head, for a test's server.

Running every migration on a new SQLite file costs ~0.5 s of CPU (plus importing Alembic once),
and nearly every test that starts a server used to pay it. Here the migrations run once per
test process (each xdist worker has its own template, so no two processes share a file) and
each test gets a plain copy: the same bytes Alembic would have written, in the test's own
tmp_path. Mirrors tests/support/postgres.py's migrated template for PostgreSQL.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from pathlib import Path

_TEMPLATE: list[Path] = []  # this process's migrated template file, once made


async def migrated_template() -> Path:
    from storage.migrate import upgrade

    if _TEMPLATE:
        return _TEMPLATE[0]
    folder = Path(tempfile.mkdtemp(prefix="samplan-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "template.sqlite3"
    await upgrade(f"sqlite+aiosqlite:///{path}")
    # Fold the write-ahead log into the file, so the file alone is the whole database.
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    _TEMPLATE.append(path)
    return path


def _copy(template: Path, path: Path) -> Path:
    if path.exists():
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return path


async def migrated_sqlite_file(path: Path) -> Path:
    """Copy the migrated template to `path` (which must not exist yet) and return it."""
    return _copy(await migrated_template(), path)
