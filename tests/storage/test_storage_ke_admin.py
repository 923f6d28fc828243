"""The KE's administration in SQL (issue 14), on both databases: the last administrator
stays, units in use stay, the coordinators list, a municipality's retention, and appointing a
koordinator from the list with one koordinator at every moment."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from storage.db import write_session
from storage.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from storage.models import User, utcnow
from storage.repositories.coordinators import CoordinatorRepo
from storage.repositories.members import MemberRepo, NotACoordinator
from storage.repositories.municipalities import MunicipalityRepo
from tests.storage.conftest import Store


async def test_the_last_administrator_stays_and_units_in_use_stay(store: Store) -> None:
    repo = MunicipalityRepo(store.sessionmaker)
    tromsø = await repo.ensure("Tromsø kommune")
    bærum = await repo.ensure("Bærum kommune 🌲")
    åse = await store.users.create("ase@example.no", "Åse Ødegård")
    bjørn = await store.users.create("bjorn@example.no", "Bjørn Ærø")
    await repo.add_admin(tromsø.id, åse.id, granted_by=None)
    with pytest.raises(Conflict, match="last"):
        await repo.remove_admin_unless_last(tromsø.id, åse.id)
    assert await repo.administers(åse.id, tromsø.id)
    assert not await repo.remove_admin_unless_last(tromsø.id, bjørn.id)  # not one
    await repo.add_admin(tromsø.id, bjørn.id, granted_by=åse.id)
    assert await repo.remove_admin_unless_last(tromsø.id, åse.id)
    assert [a.name for a in await repo.admins(tromsø.id)] == ["Bjørn Ærø"]

    skole = await repo.add_unit(tromsø.id, "Skole 🎒 Åsen")
    helse = await repo.add_unit(tromsø.id, "Helsestasjon Ødegård")
    nav = await repo.add_unit(bærum.id, "NAV Bærum")
    assert await repo.rename_unit(tromsø.id, skole.id, "Skole 🎒 Åsen og Bø") == "Skole 🎒 Åsen"
    with pytest.raises(AlreadyExists):
        await repo.rename_unit(tromsø.id, helse.id, "Skole 🎒 Åsen og Bø")
    with pytest.raises(NotFound):
        await repo.rename_unit(tromsø.id, nav.id, "Stjålet")  # another municipality's
    assert await repo.unit(tromsø.id, nav.id) is None
    plan = await store.plans.create_plan(tromsø.id, "Plan for Åse", "Åse Ødegård")
    await repo.set_plan_unit(plan.id, skole.id)
    assert await repo.unit_use(tromsø.id) == {skole.id: 1}
    with pytest.raises(Conflict):
        await repo.delete_unit(tromsø.id, skole.id)
    with pytest.raises(NotFound):
        await repo.delete_unit(tromsø.id, nav.id)
    coordinators = CoordinatorRepo(store.sessionmaker)
    await coordinators.put(tromsø.id, bjørn.id, helse.id, added_by=None)
    await repo.delete_unit(tromsø.id, helse.id)  # the coordinator stays, without a unit
    assert [(c.name, c.unit_id) for c in await coordinators.of(tromsø.id)] == [("Bjørn Ærø", None)]
    assert await repo.plan_in(tromsø.id, plan.id) is not None
    assert await repo.plan_in(bærum.id, plan.id) is None

    await repo.set_retention(tromsø.id, 30)
    with pytest.raises(InvalidValue):
        await repo.set_retention(bærum.id, 0)
    assert await repo.retention() == {tromsø.id: 30}
    await repo.set_retention(tromsø.id, None)
    assert await repo.retention() == {}


async def test_the_ke_appoints_only_from_its_list_and_one_koordinator_remains(
    store: Store,
) -> None:
    municipalities = MunicipalityRepo(store.sessionmaker)
    coordinators = CoordinatorRepo(store.sessionmaker)
    members = MemberRepo(store.sessionmaker)
    tromsø = await municipalities.ensure("Tromsø kommune")
    bærum = await municipalities.ensure("Bærum kommune 🌲")
    skole = await municipalities.add_unit(tromsø.id, "Skole 🎒")
    kari = await store.users.create("kari@example.no", "Kari Ødegård")
    per = await store.users.create("per@example.no", "Per Ås")
    jonas = await store.users.create("jonas@example.no", "Jonas Bø")
    plan = await store.plans.create_plan(tromsø.id, "Plan for Jonas", "Jonas Bø")
    await store.plans.add_member(plan.id, jonas.id, "planeier")
    await store.plans.add_member(plan.id, per.id, "koordinator")

    assert await coordinators.put(tromsø.id, kari.id, skole.id, added_by=None)
    assert not await coordinators.put(tromsø.id, kari.id, None, added_by=None)  # unit changed
    with pytest.raises(InvalidValue):
        await coordinators.put(bærum.id, kari.id, skole.id, added_by=None)  # another's unit
    assert [(m.name, m.id) for m in await coordinators.municipalities_of(kari.id)] == [
        ("Tromsø kommune", tromsø.id)
    ]

    async def plan_roles() -> dict[int, str]:
        return {m.user_id: m.role for m in await store.plans.list_members(plan.id)}

    before = await plan_roles()
    with pytest.raises(NotACoordinator):  # Jonas is not on the list
        await members.appoint(plan.id, tromsø.id, jonas.id, "deltaker")
    with pytest.raises(NotFound):  # the plan is not Bærum's
        await members.appoint(plan.id, bærum.id, kari.id, "deltaker")
    await coordinators.put(tromsø.id, jonas.id, None, added_by=None)
    with pytest.raises(Conflict):  # the planeier never becomes koordinator
        await members.appoint(plan.id, tromsø.id, jonas.id, "deltaker")
    assert await plan_roles() == before

    done = await members.appoint(plan.id, tromsø.id, kari.id, "deltaker")
    assert (done.from_user_id, done.old_role, done.new_previous_role) == (per.id, "deltaker", None)
    assert await plan_roles() == {jonas.id: "planeier", per.id: "deltaker", kari.id: "koordinator"}
    with pytest.raises(Conflict):  # Kari is the koordinator already
        await members.appoint(plan.id, tromsø.id, kari.id, None)
    await coordinators.put(tromsø.id, per.id, None, added_by=None)
    done = await members.appoint(plan.id, tromsø.id, per.id, None)  # Per back; Kari leaves
    assert (done.from_user_id, done.old_role, done.new_previous_role) == (kari.id, None, "deltaker")
    assert await plan_roles() == {jonas.id: "planeier", per.id: "koordinator"}
    assert await coordinators.remove(tromsø.id, kari.id)
    assert not await coordinators.remove(tromsø.id, kari.id)
    assert not await coordinators.listed(tromsø.id, kari.id)

    # A deactivated account stays listed for the record, but takes no plan.
    async with write_session(store.sessionmaker) as session:
        await session.execute(
            update(User).where(User.id == kari.id).values(deactivated_at=utcnow())
        )
    await coordinators.put(tromsø.id, kari.id, None, added_by=None)
    assert not await coordinators.listed(tromsø.id, kari.id)
    assert kari.id not in {c.user_id for c in await coordinators.of(tromsø.id)}
    with pytest.raises(NotACoordinator):
        await members.appoint(plan.id, tromsø.id, kari.id, None)
    assert await plan_roles() == {jonas.id: "planeier", per.id: "koordinator"}
