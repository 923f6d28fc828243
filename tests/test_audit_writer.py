"""The access log's writer (server.core.audit.AuditWriter): rows recorded close together are
written in one transaction after a short window, and `flush` and `stop` never wait for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from server.core.audit import AuditWriter
from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import AuditEntry
from storage.repositories.audit import AuditEvent, AuditRepo

# Far longer than any test waits: were the window not cut short, these tests would time out.
_FOREVER = 3600.0


class CountingRepo(AuditRepo):
    """The real repository, counting its transactions."""

    appends: list[int]
    appended: asyncio.Event

    async def append_many(self, events: Sequence[AuditEvent]) -> list[int]:
        self.appends.append(len(events))
        ids = await super().append_many(events)
        self.appended.set()
        return ids


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[CountingRepo]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'logg.sqlite3'}"
    await upgrade(url)
    engine = create_engine(url)
    counting = CountingRepo(make_sessionmaker(engine))
    counting.appends = []
    counting.appended = asyncio.Event()
    try:
        yield counting
    finally:
        await engine.dispose()


async def _actions(repo: CountingRepo) -> list[str]:
    async with repo._sessionmaker() as session:  # noqa: SLF001
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def _join(writer: AuditWriter, who: str) -> None:
    writer.record("ws_join", actor_user_id=1, role="koordinator", details={"conn": who})


async def test_rows_recorded_close_together_are_one_transaction(repo: CountingRepo) -> None:
    writer = AuditWriter(repo, settle_seconds=_FOREVER)
    writer.start()
    try:
        for who in ("Åse Ødegård", "Per Ærlig-Østby", "Ola 🙂"):
            _join(writer, who)
            for _ in range(20):  # the writer task gets the loop many times between them
                await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        assert repo.appends == []  # still gathering: nothing written while joins are answered
        async with asyncio.timeout(30):
            await writer.flush()  # does not wait out the window
        assert repo.appends == [3]
        assert await _actions(repo) == ["ws_join"] * 3
    finally:
        async with asyncio.timeout(30):
            await writer.stop()


async def test_stop_writes_what_is_gathering_at_once(repo: CountingRepo) -> None:
    writer = AuditWriter(repo, settle_seconds=_FOREVER)
    writer.start()
    _join(writer, "Åse Ødegård")
    await asyncio.sleep(0.05)
    async with asyncio.timeout(30):
        await writer.stop()
    assert repo.appends == [1]
    assert await _actions(repo) == ["ws_join"]


async def test_the_default_window_writes_by_itself(repo: CountingRepo) -> None:
    writer = AuditWriter(repo)
    writer.start()
    try:
        _join(writer, "Åse Ødegård")
        _join(writer, "Per Ærlig-Østby")
        async with asyncio.timeout(30):
            await repo.appended.wait()  # nobody flushes: the window ends and the task writes
        assert repo.appends == [2]
    finally:
        await writer.stop()
