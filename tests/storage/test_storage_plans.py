from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.db import write_session
from storage.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from storage.models import Membership, ZoneSummary
from tests.storage.conftest import Store
from tests.support.commits import counting_commits


async def _plan(store: Store, **kwargs: str) -> str:
    municipality = await store.plans.get_or_create_municipality("Bø i Telemark kommune")
    plan = await store.plans.create_plan(
        municipality, "Individuell plan for Åse", "Åse Ødegård", **kwargs
    )
    return plan.id


async def test_municipality_get_or_create_is_idempotent(store: Store) -> None:
    first = await store.plans.get_or_create_municipality("Ås kommune")
    assert await store.plans.get_or_create_municipality(" Ås kommune ") == first
    assert await store.plans.get_or_create_municipality("Ørsta kommune") != first


async def test_create_plan_with_default_zones_and_norwegian_text(store: Store) -> None:
    plan_id = await _plan(store)
    plan = await store.plans.get_plan(plan_id)
    assert plan is not None
    assert plan.person_name == "Åse Ødegård" and plan.title == "Individuell plan for Åse"
    assert plan.status == "active" and plan.access_version == 0
    assert plan.created_at.tzinfo is not None and plan.created_at.utcoffset() == timedelta(0)
    assert len(plan.id) == 36

    area = await store.plans.add_zone(plan_id, "area", "skole", "Skole og læring 📚", 1)
    zones = await store.plans.list_zones(plan_id)
    assert {(z.kind, z.key) for z in zones} == {
        ("content", ""),
        ("comments", ""),
        ("area", "skole"),
    }
    fetched = await store.plans.get_zone(plan_id, "area", "skole")
    assert fetched is not None and fetched.id == area.id and fetched.title == "Skole og læring 📚"
    assert await store.plans.get_zone(plan_id, "area", "fritid") is None


async def test_demo_key_makes_demo_idempotent(store: Store) -> None:
    plan_id = await _plan(store, demo_key="demo-2026")
    found = await store.plans.get_plan_by_demo_key("demo-2026")
    assert found is not None and found.id == plan_id
    assert await store.plans.get_plan_by_demo_key("other") is None
    with pytest.raises(AlreadyExists):
        await _plan(store, demo_key="demo-2026")


async def test_zone_validation(store: Store) -> None:
    plan_id = await _plan(store)
    with pytest.raises(AlreadyExists):
        await store.plans.add_zone(plan_id, "content", "", "Igjen", 0)
    with pytest.raises(InvalidValue):
        await store.plans.add_zone(plan_id, "bogus", "x", "Tittel", 0)
    with pytest.raises(InvalidValue):
        await store.plans.add_zone(plan_id, "area", "", "Tittel", 0)
    with pytest.raises(InvalidValue):
        await store.plans.add_zone(plan_id, "area", "a/b", "Tittel", 0)
    with pytest.raises(InvalidValue):
        await store.plans.add_zone(plan_id, "comments", "x", "Tittel", 0)
    with pytest.raises(NotFound):
        await store.plans.add_zone("no-such-plan", "area", "x", "Tittel", 0)
    with pytest.raises(NotFound):
        await store.plans.create_plan(987654, "Tittel", "Navn")


async def test_membership_upsert_bumps_access_version(store: Store) -> None:
    plan_id = await _plan(store)
    other_id = await _plan(store)
    user = await store.users.create("kari@example.no", "Kari Nordmann")

    member = await store.plans.add_member(plan_id, user.id, "deltaker", unit="Helsestasjonen")
    assert member.role == "deltaker" and member.unit == "Helsestasjonen"
    assert await store.plans.access_versions([plan_id, other_id, "gone"]) == {
        plan_id: 1,
        other_id: 0,
    }

    changed = await store.plans.add_member(plan_id, user.id, "leser", contribution="Følger opp")
    assert changed.id == member.id and changed.role == "leser"
    assert changed.unit == "Helsestasjonen" and changed.contribution == "Følger opp"
    assert (await store.plans.access_versions([plan_id]))[plan_id] == 2

    await store.plans.add_member(plan_id, user.id, "leser")  # nothing changes: no bump
    assert (await store.plans.access_versions([plan_id]))[plan_id] == 2

    fetched = await store.plans.get_membership(plan_id, user.id)
    assert fetched is not None and fetched.role == "leser"
    assert [m.user_id for m in await store.plans.list_members(plan_id)] == [user.id]
    assert [p.id for p in await store.plans.list_plans_for_user(user.id)] == [plan_id]

    assert await store.plans.remove_member(plan_id, user.id)
    assert not await store.plans.remove_member(plan_id, user.id)
    assert (await store.plans.access_versions([plan_id]))[plan_id] == 3
    assert await store.plans.get_membership(plan_id, user.id) is None
    assert await store.plans.access_versions([]) == {}

    await store.plans.set_plan_status(plan_id, "closed")
    assert (await store.plans.access_versions([plan_id]))[plan_id] == 4
    with pytest.raises(InvalidValue):
        await store.plans.set_plan_status(plan_id, "archived")


async def test_member_validation(store: Store) -> None:
    plan_id = await _plan(store)
    user = await store.users.create("ola@example.no", "Ola")
    with pytest.raises(InvalidValue, match="unknown role"):
        await store.plans.add_member(plan_id, user.id, "admin")
    with pytest.raises(NotFound):
        await store.plans.add_member(plan_id, 999_999, "leser")
    with pytest.raises(NotFound):
        await store.plans.add_member("no-such-plan", user.id, "leser")


async def test_exactly_one_koordinator(store: Store) -> None:
    plan_id = await _plan(store)
    other_plan = await _plan(store)
    first = await store.users.create("k1@example.no", "Koordinator En")
    second = await store.users.create("k2@example.no", "Koordinator To")

    await store.plans.add_member(plan_id, first.id, "koordinator")
    await store.plans.add_member(plan_id, first.id, "koordinator")  # same person again: fine
    await store.plans.add_member(other_plan, second.id, "koordinator")  # another plan: fine
    with pytest.raises(Conflict, match="already has a koordinator"):
        await store.plans.add_member(plan_id, second.id, "koordinator")
    await store.plans.add_member(plan_id, second.id, "deltaker")
    with pytest.raises(Conflict):
        await store.plans.add_member(plan_id, second.id, "koordinator")
    demoted = await store.plans.get_membership(plan_id, second.id)
    assert demoted is not None and demoted.role == "deltaker"

    # Hand over: demote the first, then promote the second.
    await store.plans.add_member(plan_id, first.id, "deltaker")
    await store.plans.add_member(plan_id, second.id, "koordinator")

    # The database enforces it too, for writers that bypass the repository.
    former = await store.plans.get_membership(plan_id, first.id)
    assert former is not None
    with pytest.raises(IntegrityError):
        async with write_session(store.sessionmaker) as session:
            member = await session.get(Membership, former.id)
            assert member is not None
            member.role = "koordinator"


async def test_many_zone_summaries_are_saved_in_one_transaction(store: Store) -> None:
    """A summary round of many zones is one durable commit (issue 16), not one per zone; every
    row replaces the zone's former summary, and a zone deleted meanwhile is left out."""
    plan_id = await _plan(store)
    zones = [
        (await store.plans.add_zone(plan_id, "area", f"omrade-{i}", f"Område {i} 📚", i)).id
        for i in range(30)
    ]
    await store.plans.save_zone_summary(zones[0], {"nextRevision": "2020-01-01"})
    gone = max(zones) + 1000  # no such zone
    summaries = {
        zone: {"nextRevision": "2027-03-01", "note": f"Åse Ødegård {i} æøå 😀"}
        for i, zone in enumerate(zones)
    }
    with counting_commits("zone_summaries") as commits:
        saved = await store.plans.save_zone_summaries({**summaries, gone: {"x": 1}})
    assert commits.count == 1
    assert saved == sorted(zones)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(ZoneSummary.zone_id, ZoneSummary.data))).all()
    assert {z: json.loads(d) for z, d in rows} == summaries  # the old one replaced
    with pytest.raises(NotFound):
        await store.plans.save_zone_summary(gone, {"x": 1})
