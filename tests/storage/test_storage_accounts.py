"""AccountRepo on SQLite and PostgreSQL: a reset link is spent once even when used twice at
the same moment, expires, and is stored only as a hash; deactivation ends sessions and
bumps the plans' access versions; whose account a koordinator may deactivate."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage.models import PasswordReset
from storage.repositories.accounts import AccountRepo, reset_token_hash
from tests.storage.conftest import Store


def _accounts(store: Store) -> AccountRepo:
    return AccountRepo(store.sessionmaker, clock=store.clock)


async def test_a_reset_link_is_spent_once_and_expires(store: Store) -> None:
    accounts = _accounts(store)
    aase = await store.users.create("aase@example.no", "Åse Ødegård 🌻", "gammel-hash")
    raw = await accounts.issue_reset(aase.id, 3600)
    async with store.sessionmaker() as session:
        stored = list(await session.scalars(select(PasswordReset.token_hash)))
    assert stored == [reset_token_hash(raw)] and raw not in stored
    session_token = await store.sessions.create(aase.id, 3600)

    assert (await accounts.check_reset(raw)).state == "ok"
    results = await asyncio.gather(
        accounts.use_reset(raw, "ny-hash-æøå"), accounts.use_reset(raw, "annen-hash-🐙")
    )
    assert sorted(r.state for r in results) == ["ok", "used"]
    user = await store.users.get(aase.id)
    winner = "ny-hash-æøå" if results[0].state == "ok" else "annen-hash-🐙"
    assert user is not None and user.password_hash == winner
    assert await store.sessions.user_for(session_token, 3600) is None  # logged out everywhere
    assert (await accounts.check_reset(raw)).state == "used"

    late = await accounts.issue_reset(aase.id, 3600)
    store.clock.advance(3601)
    assert (await accounts.check_reset(late)).state == "expired"
    assert (await accounts.use_reset(late, "for-sent")).state == "expired"
    assert (await accounts.check_reset("aldri-utstedt-æøå")).state == "expired"
    assert await accounts.resets_since(aase.id, store.clock.now.replace(year=2000)) == 2


async def test_deactivation_ends_sessions_spends_links_and_bumps_plans(store: Store) -> None:
    accounts = _accounts(store)
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(municipality, "Plan for Åse 🌻", "Åse Ødegård")
    aase = await store.users.create("aase@example.no", "Åse Ødegård")
    await store.plans.add_member(plan.id, aase.id, "planeier")
    before = (await store.plans.access_versions([plan.id]))[plan.id]
    raw = await accounts.issue_reset(aase.id, 3600)
    token = await store.sessions.create(aase.id, 3600)

    ended = await accounts.deactivate(aase.id, None)
    assert ended is not None and len(ended) == 1
    assert await accounts.deactivate(aase.id, None) is None  # already: nothing changes
    assert not await accounts.is_active(aase.id)
    assert await store.sessions.user_for(token, 3600) is None
    assert (await accounts.check_reset(raw)).state == "expired"
    assert (await store.plans.access_versions([plan.id]))[plan.id] > before
    assert (await store.users.names([aase.id]))[aase.id] == "Åse Ødegård"  # the name stays

    assert await accounts.reactivate(aase.id) and await accounts.is_active(aase.id)
    assert not await accounts.reactivate(aase.id)


async def test_whose_account_a_koordinator_may_deactivate(store: Store) -> None:
    accounts = _accounts(store)
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    mine = await store.plans.create_plan(municipality, "Plan for Jonas", "Jonas Berg")
    theirs = await store.plans.create_plan(municipality, "Plan for Åse", "Åse Ødegård")
    kari = await store.users.create("kari@example.no", "Kari Nilsen")
    only_mine = await store.users.create("per@example.no", "Per Lund")
    both = await store.users.create("aase@example.no", "Åse Ødegård")
    nowhere = await store.users.create("ola@example.no", "Ola Nordmann")
    await store.plans.add_member(mine.id, kari.id, "koordinator")
    await store.plans.add_member(mine.id, only_mine.id, "leser")
    await store.plans.add_member(mine.id, both.id, "deltaker")
    await store.plans.add_member(theirs.id, both.id, "planeier")
    ids = [kari.id, only_mine.id, both.id, nowhere.id]
    assert await accounts.coordinated_entirely_by(kari.id, ids) == {only_mine.id}
    # A deltaker coordinates nothing: nobody's account is theirs to end.
    assert await accounts.coordinated_entirely_by(only_mine.id, ids) == set()
