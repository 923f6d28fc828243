"""Moving a plan to another municipality (issue 14, plan_moves), on both databases: the plan
changes municipality with its record in one transaction, nothing changes without a valid
consent, and each municipality's lists show only its own moves."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from storage.errors import Conflict, InvalidValue, NotFound
from storage.models import Membership, Plan, PlanMove
from storage.repositories.moves import MoveConsent, PlanMoveRepo
from storage.repositories.municipalities import MunicipalityRepo
from tests.storage.conftest import Store

CONSENT = MoveConsent("planeier", "Åse Ødegård", "written", date(2026, 11, 30))


async def _setup(store: Store) -> tuple[int, int, str, int]:
    towns = MunicipalityRepo(store.sessionmaker)
    a = await towns.ensure("Tromsø kommune")
    b = await towns.ensure("Bø i Telemark 🏔")
    unit = await towns.add_unit(a.id, "Helsestasjonen Åsgård")
    plan = await store.plans.create_plan(a.id, "Plan etter hjerneslag 🧠", "Åse Ødegård")
    await towns.set_plan_unit(plan.id, unit.id)
    ke = await store.users.create("ke@tromso.example", "Kari Ødegård")
    return a.id, b.id, plan.id, ke.id


async def test_a_move_changes_the_municipality_clears_the_unit_and_is_recorded(
    store: Store,
) -> None:
    a, b, plan_id, ke = await _setup(store)
    koordinator = await store.users.create("koord@example.no", "Øystein Ås")
    await store.plans.add_member(plan_id, koordinator.id, "koordinator")
    repo = PlanMoveRepo(store.sessionmaker)

    row = await repo.move(plan_id, a, b, CONSENT, initials="Å. Ø.", recorded_by=ke)
    assert row.kind == "internal"
    async with store.sessionmaker() as session:
        plan = await session.get(Plan, plan_id)
        assert plan is not None
        assert (plan.municipality_id, plan.unit_id, plan.status) == (b, None, "active")
        roles = await session.scalars(select(Membership.role).where(Membership.plan_id == plan_id))
        assert list(roles) == ["koordinator"]  # no gap in follow-up

    [record] = await repo.moved_out(a)
    assert (record.plan_id, record.initials, record.to_name) == (
        plan_id,
        "Å. Ø.",
        "Bø i Telemark 🏔",
    )
    assert (record.from_name, record.recorded_by) == ("Tromsø kommune", "Kari Ødegård")
    assert (record.consent_giver, record.consent_method) == ("planeier", "written")
    assert record.consent_given_on == date(2026, 11, 30)
    assert await repo.moved_out(b) == []
    assert await repo.waiting_in(b) == {plan_id}
    assert await repo.waiting_in(a) == set()

    assert await repo.settle(plan_id, b) == 1
    assert await repo.waiting_in(b) == set()
    assert await repo.settle(plan_id, b) == 0
    [after] = await repo.of_plan(plan_id)
    assert after.appointed_at is not None


async def test_nothing_changes_without_a_valid_consent_or_from_another_municipality(
    store: Store,
) -> None:
    a, b, plan_id, ke = await _setup(store)
    repo = PlanMoveRepo(store.sessionmaker)
    bad = [
        MoveConsent("koordinator", "Åse Ødegård", "written", date(2026, 11, 30)),
        MoveConsent("planeier", "   ", "oral", date(2026, 11, 30)),
        MoveConsent("verge", "Ola Ødegård", "telepati 🔮", date(2026, 11, 30)),
    ]
    for consent in bad:
        with pytest.raises(InvalidValue):
            await repo.move(plan_id, a, b, consent, initials="Å. Ø.", recorded_by=ke)
    with pytest.raises(NotFound):  # B's KE acting on A's plan
        await repo.move(plan_id, b, a, CONSENT, initials="Å. Ø.", recorded_by=ke)
    with pytest.raises(InvalidValue):
        await repo.move(plan_id, a, a, CONSENT, initials="Å. Ø.", recorded_by=ke)
    with pytest.raises(InvalidValue):
        await repo.move(plan_id, a, 999_999, CONSENT, initials="Å. Ø.", recorded_by=ke)
    async with store.sessionmaker() as session:
        plan = await session.get(Plan, plan_id)
        assert plan is not None and plan.municipality_id == a and plan.unit_id is not None
        assert await session.scalar(select(func.count()).select_from(PlanMove)) == 0


async def test_a_move_out_closes_the_plan_and_an_import_is_flagged(store: Store) -> None:
    a, b, plan_id, ke = await _setup(store)
    repo = PlanMoveRepo(store.sessionmaker)
    await repo.record_export(
        plan_id, a, "Vågå kommune ⛰", CONSENT, initials="Å. Ø.", recorded_by=ke
    )
    [record] = await repo.moved_out(a)
    assert (record.kind, record.to_name) == ("export", "Vågå kommune ⛰")
    async with store.sessionmaker() as session:
        plan = await session.get(Plan, plan_id)
        assert plan is not None and plan.status == "closed" and plan.closed_at is not None
    with pytest.raises(Conflict):  # closed: not moved again
        await repo.move(plan_id, a, b, CONSENT, initials="Å. Ø.", recorded_by=ke)

    other = await store.plans.create_plan(b, "Plan 🌻", "Ola Ødegård")
    await repo.record_import(other.id, b, "Vågå kommune ⛰", CONSENT, initials="O. Ø.")
    assert await repo.waiting_in(b) == {other.id}
    [arrived] = await repo.of_plan(other.id)
    assert (arrived.kind, arrived.from_name, arrived.to_name) == (
        "import",
        "Vågå kommune ⛰",
        "Bø i Telemark 🏔",
    )
