"""Helpers for tests that drive Python y-websocket clients against a live server."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pycrdt import Text

from crdt.client import YClient

log = logging.getLogger("tests")


@asynccontextmanager
async def connected(url: str, *, wait_sync: bool = True) -> AsyncIterator[YClient]:
    client = YClient(url)
    await client.connect()
    try:
        if wait_sync:
            await client.wait_for(client.synced.is_set)
        yield client
    finally:
        await client.close()


def text_of(client: YClient, name: str = "t") -> str:
    return str(client.doc.get(name, type=Text))


def log_rows(db_path: Path, zone_id: int | None = None) -> int:
    """Count update-log rows straight from the SQLite file (a separate, real reader)."""
    with sqlite3.connect(db_path) as db:
        if zone_id is None:
            return int(db.execute("SELECT count(*) FROM zone_updates").fetchone()[0])
        return int(
            db.execute(
                "SELECT count(*) FROM zone_updates WHERE zone_id = ?", (zone_id,)
            ).fetchone()[0]
        )
