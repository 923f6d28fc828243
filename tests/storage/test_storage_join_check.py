"""`PlanRepo.join_check`: the one statement a WebSocket join is decided on must say what the
three reads it replaced said (account active, plan/zone/role, the member's consent), on
SQLite and PostgreSQL, in every state a join can meet."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, update

from storage.db import POSTGRES_POOL_SIZE, is_sqlite, sqlite_zone_log
from storage.models import Plan
from storage.repositories import ConsentRepo
from storage.repositories.accounts import AccountRepo
from storage.repositories.plans import JOIN_CHECKS_AT_ONCE
from tests.storage.conftest import Store
from tests.support.postgres import engine_statements


async def _agrees(store: Store, plan_id: str, kind: str, key: str, user_id: int) -> None:
    """join_check against the separate reads the join used to make."""
    check = await store.plans.join_check(plan_id, kind, key, user_id)
    accounts = AccountRepo(store.sessionmaker)
    assert check.active == await accounts.is_active(user_id)
    if check.context is not None or check.member is not None:
        assert check.member == await ConsentRepo(store.sessionmaker).member_access(plan_id, user_id)


async def test_join_check_in_every_state(store: Store) -> None:
    if is_sqlite(store.engine):  # the one-hand-off path (SQLiteZoneLog.first) is what runs
        assert sqlite_zone_log(store.engine) is not None
    consents = ConsentRepo(store.sessionmaker)
    accounts = AccountRepo(store.sessionmaker)
    municipality = await store.plans.get_or_create_municipality("Bø i Telemark kommune")
    plan = await store.plans.create_plan(municipality, "Plan for Åse Ødegård 🌱", "Åse Ødegård")
    other = await store.plans.create_plan(municipality, "Annen plan 🎈", "Ola Nordmann")
    await store.plans.add_zone(plan.id, "area", "skole", "Skole og læring 📚", 0)
    owner = await store.users.create("aase@eksempel.test", "Åse Ødegård")
    member = await store.users.create("per@eksempel.test", "Per Ærlig-Østby 😀")
    outsider = await store.users.create("ola@eksempel.test", "Ola Nordmann")
    await store.plans.add_member(plan.id, owner.id, "planeier")
    await store.plans.add_member(plan.id, member.id, "deltaker")
    await store.plans.add_member(other.id, outsider.id, "koordinator")

    # A member without consent: the zone and role are there, no consent in force.
    check = await store.plans.join_check(plan.id, "area", "skole", member.id)
    zone = await store.plans.get_zone(plan.id, "area", "skole")
    assert check.active and check.context is not None and zone is not None
    assert (check.context.zone_id, check.context.role, check.context.user_name) == (
        zone.id,
        "deltaker",
        "Per Ærlig-Østby 😀",
    )
    assert check.context.access_version == (await store.plans.access_versions([plan.id]))[plan.id]
    assert check.member is not None and check.member.consent is None
    await _agrees(store, plan.id, "area", "skole", member.id)

    # Given, replaced (the newest current row counts), then revoked: each read at once.
    await consents.give(plan.id, member.id, ["content"], None, owner.id)
    newest = await consents.give(plan.id, member.id, ["content", "area/skole"], None, owner.id)
    check = await store.plans.join_check(plan.id, "area", "skole", member.id)
    assert check.member is not None and check.member.consent == newest
    assert check.context is not None
    version = check.context.access_version
    await _agrees(store, plan.id, "area", "skole", member.id)
    await consents.revoke(plan.id, member.id, owner.id)
    check = await store.plans.join_check(plan.id, "area", "skole", member.id)
    assert check.member is not None and check.member.consent is None
    assert check.context is not None and check.context.access_version > version
    await _agrees(store, plan.id, "area", "skole", member.id)

    # A draft ("utkast") has no consent in force whatever the table holds.
    await consents.give(plan.id, member.id, "all", None, owner.id)
    async with store.sessionmaker() as session, session.begin():
        await session.execute(update(Plan).where(Plan.id == plan.id).values(draft=True))
    check = await store.plans.join_check(plan.id, "content", "", member.id)
    assert check.member is not None and check.member.plan_draft and check.member.consent is None
    await _agrees(store, plan.id, "content", "", member.id)

    # Not a member, no such zone, no such plan: no context, never saying which.
    for plan_id, kind, key, user_id in (
        (plan.id, "area", "skole", outsider.id),
        (other.id, "content", "", member.id),
        ("00000000-0000-4000-8000-000000000000", "content", "", member.id),
    ):
        check = await store.plans.join_check(plan_id, kind, key, user_id)
        assert check.active and check.context is None and check.member is None
    check = await store.plans.join_check(plan.id, "area", "fritid", member.id)
    assert check.active and check.context is None and check.member is not None

    # Deactivated (and unknown) accounts are told apart from non-members in the same read.
    await accounts.deactivate(member.id, owner.id)
    check = await store.plans.join_check(plan.id, "content", "", member.id)
    assert not check.active and check.context is not None
    await _agrees(store, plan.id, "content", "", member.id)
    assert not (await store.plans.join_check(plan.id, "content", "", 987654)).active


async def test_a_join_storm_on_postgresql_leaves_pooled_connections_for_the_load(
    postgres_store: Store,
) -> None:
    """50 joins in one turn of the loop (a meeting opening its plan) hold at most
    JOIN_CHECKS_AT_ONCE connections: the rest wait for those, rather than taking every pooled
    connection and opening overflow ones while the room's load, which every joiner waits for,
    queues behind them. Each check still answers as alone."""
    store = postgres_store
    municipality = await store.plans.get_or_create_municipality("Bø i Telemark kommune")
    plan = await store.plans.create_plan(municipality, "Plan for Åse Ødegård 🌱", "Åse Ødegård")
    people = [
        await store.users.create(f"deltaker{n}@eksempel.test", f"Åse Ødegård {n} 🙂")
        for n in range(50)
    ]
    for person in people:
        await store.plans.add_member(plan.id, person.id, "deltaker")

    out, peak = 0, 0

    def checked_out(*_: object) -> None:
        nonlocal out, peak
        out += 1
        peak = max(peak, out)

    def checked_in(*_: object) -> None:
        nonlocal out
        out -= 1

    pool = store.engine.sync_engine.pool
    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    try:
        checks = await asyncio.gather(
            *(store.plans.join_check(plan.id, "content", "", p.id) for p in people)
        )
    finally:
        event.remove(pool, "checkout", checked_out)
        event.remove(pool, "checkin", checked_in)
    assert [c.context.user_name for c in checks if c.context] == [p.name for p in people]
    assert 1 < peak <= JOIN_CHECKS_AT_ONCE < POSTGRES_POOL_SIZE, peak


async def test_a_join_check_on_postgresql_is_one_round_trip(postgres_store: Store) -> None:
    """The check is one statement, and on PostgreSQL nothing goes around it: no BEGIN and no
    ROLLBACK (a statement reads one snapshot by itself), so a joiner waits for one round trip,
    not three."""
    store = postgres_store
    municipality = await store.plans.get_or_create_municipality("Bø i Telemark kommune")
    plan = await store.plans.create_plan(municipality, "Plan for Åse Ødegård 🌱", "Åse Ødegård")
    aase = await store.users.create("aase@eksempel.test", "Åse Ødegård")
    await store.plans.add_member(plan.id, aase.id, "planeier")
    with engine_statements(store.engine) as statements:
        check = await store.plans.join_check(plan.id, "content", "", aase.id)
    assert check.context is not None and check.context.user_name == "Åse Ødegård"
    assert [(sql.split()[0], in_transaction) for sql, in_transaction in statements] == [
        ("SELECT", False)
    ]
