"""The SQLite default as a file an operator keeps: online backup, restore, and who is serving it.

Backup is SQLite's own online backup API on a connection of its own: it copies every page
inside one read transaction, so the copy is the database as of one commit (WAL mode lets the
server go on writing meanwhile; its later commits are simply not in the copy). It is written
to a `.partial` file (mode 0600: it is health data), checked, fsynced, and only then renamed
to the name asked for, so a file under that name is always a whole backup.

Restore replaces the database file, which must not happen under a server that has it open
(its connections would go on writing into the file it replaced). A serving process holds a
shared `flock` on `<database>.serving` for as long as it runs (the kernel drops it when the
process dies, SIGKILL included); restore takes it exclusively or refuses. While a restore
holds it, a server refuses to start. Command-line tools other than `serve` take no lock:
do not run them during a restore. The database that was there is kept beside it, renamed
`<name>.before-restore-<UTC time>`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from storage.errors import StorageError

# Tables whose presence makes a file a Samplan database (with alembic_version).
SAMPLAN_TABLES = ("plans", "zones", "zone_updates", "zone_snapshots", "audit_log")
BUSY_TIMEOUT_SECONDS = 30.0


class BackupError(StorageError):
    """A backup or restore that cannot be done; the message says why, for an operator."""


class DatabaseInUse(BackupError):
    """A server holds the database (restore), or a restore does (serve)."""


@dataclass(frozen=True)
class DatabaseFacts:
    path: Path
    revision: str
    plans: int
    size_bytes: int


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names, or None for another database (or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def _lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".serving")


def _open_lock(database: Path) -> IO[bytes]:
    database.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    return os.fdopen(fd, "r+b")


class ServingLock:
    """Held by a serving process (shared: several may serve, none may restore)."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._file: IO[bytes] | None = _open_lock(database)
        try:
            fcntl.flock(self._file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            raise DatabaseInUse(
                f"a restore of {database} is under way: start the server when it has finished"
            ) from None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the lock
            self._file = None


@contextlib.contextmanager
def exclusive(database: Path) -> Iterator[None]:
    """Hold the database alone (no server has it), or raise DatabaseInUse."""
    lock = _open_lock(database)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(
                f"a Samplan server is using {database}: stop it first "
                "(a restore never replaces a database that is being served)"
            ) from None
        yield
    finally:
        lock.close()


def inspect(path: Path, known_revision: Callable[[str], bool]) -> DatabaseFacts:
    """What `path` holds, or BackupError saying why it is no Samplan database this version
    can use: missing, not SQLite, without Samplan's tables, or made by a newer Samplan
    (a schema revision `known_revision` does not know)."""
    if not path.exists():
        raise BackupError(f"{path}: no such file")
    if not path.is_file():
        raise BackupError(f"{path}: not a file")
    try:
        with contextlib.closing(_connect(path, read_only=True)) as db:
            tables = {
                row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            missing = [t for t in ("alembic_version", *SAMPLAN_TABLES) if t not in tables]
            if missing:
                raise BackupError(f"{path}: not a Samplan database (no table {', '.join(missing)})")
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
            if row is None:
                raise BackupError(f"{path}: not a Samplan database (no schema revision)")
            revision = str(row[0])
            if not known_revision(revision):
                raise BackupError(
                    f"{path}: made by a newer Samplan (schema revision {revision}, which this "
                    "version does not know): upgrade Samplan before restoring it"
                )
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise BackupError(f"{path}: the database is damaged (SQLite quick_check failed)")
            plans = int(db.execute("SELECT count(*) FROM plans").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        # "file is not a database" and its kind: the text is SQLite's, never a row's
        raise BackupError(f"{path}: not an SQLite database ({type(exc).__name__})") from None
    return DatabaseFacts(path, revision, plans, path.stat().st_size)


def backup(database: Path, dest: Path, known_revision: Callable[[str], bool]) -> DatabaseFacts:
    """Copy the live database to `dest` (a new file), consistent as of one commit."""
    if not database.exists():
        raise BackupError(f"no database at {database}")
    dest = dest.expanduser().resolve()
    if dest.exists():
        raise BackupError(f"{dest} already exists: a backup never overwrites, choose a new name")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such folder")
    if dest == database:
        raise BackupError("the backup must be another file than the database")
    inspect(database, known_revision)
    partial = dest.with_name(dest.name + ".partial")
    _copy(database, partial)
    try:
        facts = inspect(partial, known_revision)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)
    return DatabaseFacts(dest, facts.revision, facts.plans, dest.stat().st_size)


def restore(source: Path, database: Path, known_revision: Callable[[str], bool]) -> RestoreResult:
    """Make `source` (a backup) the database, keeping the one there as `.before-restore-…`.
    Refuses while a server holds the database (DatabaseInUse)."""
    source = source.expanduser().resolve()
    if source == database:
        raise BackupError("that is the database itself: name a backup file")
    facts = inspect(source, known_revision)
    with exclusive(database):
        partial = database.with_name(database.name + ".restoring")
        partial.unlink(missing_ok=True)
        _copy(source, partial)
        kept: Path | None = None
        try:
            if database.exists():
                _checkpoint(database)  # fold its WAL in, so the kept copy is whole
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                kept = database.with_name(f"{database.name}.before-restore-{stamp}")
                os.replace(database, kept)
            for suffix in ("-wal", "-shm"):  # never let an old WAL meet the new file
                database.with_name(database.name + suffix).unlink(missing_ok=True)
            os.replace(partial, database)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        _fsync_dir(database.parent)
    return RestoreResult(facts, kept)


@dataclass(frozen=True)
class RestoreResult:
    restored: DatabaseFacts
    previous: Path | None  # where the database that was there was kept


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        # mode=ro still takes part in WAL locking; immutable is never used (a server may write)
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    else:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)
    db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    return db


def _copy(source: Path, dest: Path) -> None:
    """SQLite's online backup of `source` into a new file `dest` (0600), in one step (one read
    transaction: one consistent state), then made durable."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        with (
            contextlib.closing(_connect(source)) as src,
            contextlib.closing(_connect(dest)) as dst,
        ):
            src.backup(dst)  # pages=-1: everything in one step
            # The copy keeps the source's WAL mode; fold everything into the main file so the
            # one file is the whole backup.
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            dst.execute("PRAGMA journal_mode=DELETE")
        with open(dest, "rb+") as f:
            os.fsync(f.fileno())
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    for suffix in ("-wal", "-shm"):
        dest.with_name(dest.name + suffix).unlink(missing_ok=True)


def _checkpoint(database: Path) -> None:
    with contextlib.closing(_connect(database)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
