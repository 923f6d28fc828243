"""Notifications on SQLite and PostgreSQL: recorded once per dedupe key (also when two
writers race), unread counts, marking read, e-mail preferences, and the outbox's claims."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from storage.db import create_engine, make_sessionmaker
from storage.errors import InvalidValue
from storage.models import utcnow
from storage.repositories import EmailDraft, NewNotification, NotificationRepo
from tests.storage.conftest import Store


async def _setup(store: Store) -> tuple[str, int, int]:
    municipality = await store.plans.get_or_create_municipality("Bø i Telemark kommune")
    plan = await store.plans.create_plan(municipality, "Individuell plan for Åse", "Åse Ødegård")
    aase = await store.users.create("aase@eksempel.test", "Åse Ødegård")
    per = await store.users.create("per@eksempel.test", "Per Lund")
    await store.plans.add_member(plan.id, aase.id, "deltaker")
    await store.plans.add_member(plan.id, per.id, "leser")
    return plan.id, aase.id, per.id


def _new(plan_id: str, user_id: int, key: str, email: bool = True) -> NewNotification:
    draft = (
        EmailDraft("per@eksempel.test", "Ny melding", "Lenke: http://x/plans") if email else None
    )
    return NewNotification(
        user_id, plan_id, "message", "m-1", f"/plans/{plan_id}#messages", key, draft
    )


async def test_record_once_per_dedupe_key_with_its_email(store: Store) -> None:
    plan_id, aase, per = await _setup(store)
    repo = NotificationRepo(store.sessionmaker)
    first = await repo.record(
        [_new(plan_id, per, "message:m-1:per"), _new(plan_id, aase, "k2", False)]
    )
    assert [n.user_id for n in first] == [per, aase]
    again = await repo.record([_new(plan_id, per, "message:m-1:per")])
    assert again == []
    assert len(await repo.list_for_user(per)) == 1
    outbox = await repo.outbox()
    assert len(outbox) == 1 and outbox[0].notification_id == first[0].id  # Åse had none
    with pytest.raises(InvalidValue):
        await repo.record([NewNotification(per, plan_id, "spam", None, "/", "x")])


async def test_two_writers_racing_record_one_row(store: Store) -> None:
    """Two "nodes" (two engines on one database) insert the same keys at once."""
    plan_id, _, per = await _setup(store)
    engines = [create_engine(store.url) for _ in range(2)]
    try:
        repos = [NotificationRepo(make_sessionmaker(e)) for e in engines]
        items = [_new(plan_id, per, f"deadline:{i}") for i in range(10)]
        results = await asyncio.gather(*(r.record(items) for r in repos))
        assert sum(len(r) for r in results) == 10
        assert len(await repos[0].list_for_user(per)) == 10
        assert len(await repos[0].outbox()) == 10
    finally:
        for engine in engines:
            await engine.dispose()


async def test_unread_counts_and_marking_read(store: Store) -> None:
    plan_id, aase, per = await _setup(store)
    repo = NotificationRepo(store.sessionmaker)
    made = await repo.record([_new(plan_id, per, f"k{i}", False) for i in range(3)])
    await repo.record(
        [NewNotification(per, plan_id, "comment", "g-1", "/", "c1"), _new(plan_id, aase, "a1")]
    )
    assert await repo.unread_count(per) == 4
    assert await repo.unread_by_plan(per, "message") == {plan_id: 3}
    assert [n.id for n in await repo.list_for_user(per)][1:] == [n.id for n in reversed(made)]
    # Someone else's notification cannot be read or marked through my id.
    assert await repo.get(aase, made[0].id) is None
    assert await repo.mark_read(aase, notification_id=made[0].id) == 0
    assert await repo.mark_read(per, notification_id=made[0].id) == 1
    assert await repo.mark_read(per, notification_id=made[0].id) == 0
    assert await repo.unread_by_plan(per, "message") == {plan_id: 2}
    assert await repo.mark_read(per, plan_id=plan_id, kind="message") == 2
    assert await repo.unread_count(per) == 1
    assert await repo.mark_read(per) == 1
    assert await repo.unread_count(aase) == 1
    await store.plans.remove_member(plan_id, aase)  # a plan she left no longer counts
    assert await repo.unread_count(aase) == 0


async def test_email_preferences_default_and_choice(store: Store) -> None:
    _, aase, per = await _setup(store)
    repo = NotificationRepo(store.sessionmaker)
    prefs = await repo.email_prefs(per)
    assert prefs["message"] and prefs["minutes"] and prefs["deadline"] and not prefs["comment"]
    await repo.set_email_prefs(per, {"message": False, "comment": True})
    prefs = await repo.email_prefs(per)
    assert not prefs["message"] and prefs["comment"] and prefs["assigned"]
    assert await repo.wants_email([per, aase], "message") == {aase}
    assert await repo.wants_email([per, aase], "comment") == {per}
    with pytest.raises(InvalidValue):
        await repo.set_email_prefs(per, {"nope": True})


async def test_outbox_claims_are_exclusive_and_failures_retry(store: Store) -> None:
    plan_id, _, per = await _setup(store)
    repo = NotificationRepo(store.sessionmaker)
    await repo.record([_new(plan_id, per, f"k{i}") for i in range(4)])
    other = NotificationRepo(store.sessionmaker)
    a, b = await asyncio.gather(repo.claim_due(limit=10), other.claim_due(limit=10))
    assert sorted(e.id for e in a + b) == sorted(e.id for e in await repo.outbox())
    assert not {e.id for e in a} & {e.id for e in b}
    assert await repo.claim_due() == []  # all held by a lease
    first, second = (a + b)[:2]
    await repo.mark_sent(first.id)
    await repo.mark_failed(second.id, "SMTPDataError 451", utcnow() + timedelta(seconds=60))
    assert await repo.claim_due() == []  # not due yet
    retry = await repo.claim_due(now=utcnow() + timedelta(seconds=61))
    assert [e.id for e in retry] == [second.id] and retry[0].attempts == 2
    # An expired lease (a sender that died) makes the rest claimable again; a sent row never.
    later = await repo.claim_due(now=utcnow() + timedelta(seconds=600))
    assert first.id not in {e.id for e in later} and len(later) == 3
    rows = {e.id: e for e in await repo.outbox()}
    assert rows[first.id].sent_at is not None and rows[second.id].last_error == "SMTPDataError 451"
