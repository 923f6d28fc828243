"""Helpers for tests that drive Python y-websocket clients against a live server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pycrdt import Text

from crdt.client import YClient
from tests.support.database import scalar

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


def log_rows(where: str | Path | Any, zone_id: int | None = None) -> int:
    """Count update-log rows straight from the database (a separate, real reader): `where` is
    its URL, a SQLite file, or the server/settings (tests/support/database.py)."""
    if zone_id is None:
        return int(scalar(where, "SELECT count(*) FROM zone_updates"))
    found = scalar(where, "SELECT count(*) FROM zone_updates WHERE zone_id = :z", {"z": zone_id})
    return int(found)
