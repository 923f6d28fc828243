"""Consents on SQLite and PostgreSQL: give, refuse, revoke, one current row, access_version."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from storage.errors import InvalidValue, NotFound
from storage.repositories import ConsentRepo
from tests.storage.conftest import Store


async def _setup(store: Store) -> tuple[str, int, int, int]:
    municipality = await store.plans.get_or_create_municipality("Bø i Telemark kommune")
    plan = await store.plans.create_plan(municipality, "Individuell plan for Åse", "Åse Ødegård")
    owner = await store.users.create("aase@eksempel.test", "Åse Ødegård")
    reader = await store.users.create("per@eksempel.test", "Per Lund")
    outsider = await store.users.create("ola@eksempel.test", "Ola Nordmann")
    await store.plans.add_member(plan.id, owner.id, "planeier")
    await store.plans.add_member(plan.id, reader.id, "leser")
    return plan.id, owner.id, reader.id, outsider.id


async def _version(store: Store, plan_id: str) -> int:
    return (await store.plans.access_versions([plan_id]))[plan_id]


async def test_give_replace_refuse_revoke(store: Store) -> None:
    plan_id, owner, reader, _ = await _setup(store)
    consents = ConsentRepo(store.sessionmaker)
    access = await consents.member_access(plan_id, reader)
    assert access is not None and access.role == "leser" and access.consent is None
    v0 = await _version(store, plan_id)

    until = date(2099, 8, 31)
    first = await consents.give(plan_id, reader, ["content", "area/skole"], until, owner)
    assert first.scope == ("content", "area/skole") and first.valid_until == until
    assert first.given_at.utcoffset() == timedelta(0)
    assert first.active_on(date(2099, 8, 31)) and not first.active_on(date(2099, 9, 1))
    assert first.covers("area/skole") and not first.covers("comments")
    assert await _version(store, plan_id) == v0 + 1

    second = await consents.give(plan_id, reader, "all", None, owner)
    assert second.scope is None and second.covers("comments")
    access = await consents.member_access(plan_id, reader)
    assert access is not None and access.role == "leser"
    assert access.consent is not None and access.consent.id == second.id  # one current row

    refused = await consents.refuse(plan_id, reader, owner)
    access = await consents.member_access(plan_id, reader)
    assert access is not None and access.consent == refused
    assert refused.status == "refused" and not refused.active_on(date.today())
    assert await consents.revoke(plan_id, reader, owner) is None  # nothing given to revoke

    await consents.give(plan_id, reader, ["comments"], None, owner)
    revoked = await consents.revoke(plan_id, reader, owner)
    assert revoked is not None and revoked.revoked_at is not None
    assert revoked.revoked_by_user_id == owner
    access = await consents.member_access(plan_id, reader)
    assert access is not None and access.consent is None
    assert await _version(store, plan_id) == v0 + 5

    latest = await consents.latest_by_user(plan_id)
    assert latest[reader][0].id == revoked.id and latest[reader][1] == "Åse Ødegård"


async def test_errors_and_overview(store: Store) -> None:
    plan_id, owner, reader, outsider = await _setup(store)
    consents = ConsentRepo(store.sessionmaker)
    with pytest.raises(NotFound):
        await consents.give(plan_id, outsider, "all", None, owner)
    with pytest.raises(InvalidValue):
        await consents.give(plan_id, reader, [], None, owner)
    assert await consents.member_access(plan_id, outsider) is None
    today = date(2030, 1, 10)
    assert await consents.plans_with_active_consent([plan_id], today) == set()
    await consents.give(plan_id, reader, ["content"], date(2030, 1, 9), owner)
    assert await consents.plans_with_active_consent([plan_id], today) == set()  # expired
    await consents.give(plan_id, reader, ["content"], date(2030, 1, 10), owner)
    assert await consents.plans_with_active_consent([plan_id], today) == {plan_id}
    assert await consents.plans_with_active_consent([], today) == set()


async def test_deleting_the_plan_deletes_its_consents(store: Store) -> None:
    plan_id, owner, reader, _ = await _setup(store)
    consents = ConsentRepo(store.sessionmaker)
    await consents.give(plan_id, reader, "all", None, owner)
    assert await store.plans.delete_plan(plan_id)
    assert await consents.latest_by_user(plan_id) == {}
