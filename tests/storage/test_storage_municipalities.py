"""Municipalities as a boundary (issue 14): KE administrators and units, on both databases."""

from __future__ import annotations

import pytest

from storage.errors import AlreadyExists, InvalidValue, NotFound
from storage.repositories.municipalities import MunicipalityRepo
from tests.storage.conftest import Store


async def test_ke_administrators_belong_to_one_municipality(store: Store) -> None:
    repo = MunicipalityRepo(store.sessionmaker)
    tromsø = await repo.ensure("  Tromsø   kommune ")
    assert tromsø.name == "Tromsø kommune"
    assert (await repo.ensure("Tromsø kommune")).id == tromsø.id
    bærum = await repo.ensure("Bærum kommune 🌲")
    åse = await store.users.create("ase@example.no", "Åse Ødegård")

    assert await repo.add_admin(tromsø.id, åse.id, granted_by=None)
    assert not await repo.add_admin(tromsø.id, åse.id, granted_by=None)  # already one
    assert await repo.administers(åse.id, tromsø.id)
    assert not await repo.administers(åse.id, bærum.id)
    assert [m.name for m in await repo.administered_by(åse.id)] == ["Tromsø kommune"]
    assert [a.name for a in await repo.admins(tromsø.id)] == ["Åse Ødegård"]
    assert await repo.admins(bærum.id) == []

    assert await repo.remove_admin(tromsø.id, åse.id)
    assert not await repo.remove_admin(tromsø.id, åse.id)
    assert await repo.administered_by(åse.id) == []
    with pytest.raises(NotFound):
        await repo.add_admin(tromsø.id, 999_999, granted_by=None)
    with pytest.raises(InvalidValue, match="must not be empty"):
        await repo.ensure("   ")


async def test_a_plans_unit_is_one_of_its_own_municipalitys(store: Store) -> None:
    repo = MunicipalityRepo(store.sessionmaker)
    tromsø = await repo.ensure("Tromsø kommune")
    bærum = await repo.ensure("Bærum kommune")
    skole = await repo.add_unit(tromsø.id, "Skolehelsetjenesten Åsgård 🏫")
    nav = await repo.add_unit(bærum.id, "NAV Bærum")
    with pytest.raises(AlreadyExists):
        await repo.add_unit(tromsø.id, "Skolehelsetjenesten  Åsgård 🏫")
    assert [u.name for u in await repo.units(tromsø.id)] == ["Skolehelsetjenesten Åsgård 🏫"]

    plan = await store.plans.create_plan(tromsø.id, "Jonas sin plan", "Jonas Ødegård")
    assert await repo.of_plan(plan.id) == tromsø.id
    await repo.set_plan_unit(plan.id, skole.id)
    with pytest.raises(InvalidValue, match="municipality"):
        await repo.set_plan_unit(plan.id, nav.id)  # another municipality's unit
    await repo.set_plan_unit(plan.id, None)
