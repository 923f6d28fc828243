"""The KE's log-control thresholds in SQL (issue 14), on both databases: the defaults are the
values once fixed in code, a municipality's own numbers are its own, a second change updates
the one row, and numbers out of range change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.errors import InvalidValue
from storage.models import KeLogThresholds
from storage.repositories.ke_log_thresholds import LogThresholds, set_thresholds, thresholds
from storage.repositories.municipalities import MunicipalityRepo
from tests.storage.conftest import Store


async def test_each_municipality_keeps_its_own_thresholds(store: Store) -> None:
    repo = MunicipalityRepo(store.sessionmaker)
    tromsø = (await repo.ensure("Tromsø kommune ❄️")).id
    bærum = (await repo.ensure("Bærum kommune 🌲")).id
    åse = await store.users.create("ase.odegard@example.no", "Åse Ødegård")
    assert await thresholds(store.engine, tromsø) == LogThresholds(22, 6, 10, 60)

    await set_thresholds(store.engine, tromsø, LogThresholds(23, 5, 4, 15), by_user_id=åse.id)
    assert await thresholds(store.engine, tromsø) == LogThresholds(23, 5, 4, 15)
    assert await thresholds(store.engine, bærum) == LogThresholds()  # untouched
    await set_thresholds(store.engine, tromsø, LogThresholds(1, 4, 2, 1440), by_user_id=None)
    assert await thresholds(store.engine, tromsø) == LogThresholds(1, 4, 2, 1440)
    async with store.engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(KeLogThresholds))
    assert rows == 1

    for bad in (
        LogThresholds(22, 22, 10, 60),  # from == until
        LogThresholds(24, 6, 10, 60),
        LogThresholds(22, -1, 10, 60),
        LogThresholds(22, 6, 1, 60),  # one plan is not "many"
        LogThresholds(22, 6, 10, 0),
        LogThresholds(22, 6, 10, 1441),
    ):
        with pytest.raises(InvalidValue):
            await set_thresholds(store.engine, tromsø, bad, by_user_id=åse.id)
    assert await thresholds(store.engine, tromsø) == LogThresholds(1, 4, 2, 1440)
