"""Plan versions and published minutes: insert-only, numbered, one daily version per plan/day."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import date, datetime

import pytest

from storage.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from storage.repositories.versions import MinutesRecord, VersionRepo, ZoneCopy
from tests.storage.conftest import Store

DATA = '{"goals": [{"id": "g1", "title": "Lese 20 minutter hver dag 📚 æøå"}]}'


async def _plan(store: Store) -> str:
    municipality = await store.plans.get_or_create_municipality("Bø i Telemark kommune")
    plan = await store.plans.create_plan(municipality, "Individuell plan for Åse", "Åse Ødegård")
    return plan.id


def _zones() -> list[ZoneCopy]:
    return [
        ZoneCopy("content", "", "Felles del", b"\x00\x00", "{}"),
        ZoneCopy("area", "skole", "Skole og læring 📚", b"\x01\x02\xff", DATA),
    ]


async def test_named_version_round_trip_and_plan_scoping(store: Store) -> None:
    repo = VersionRepo(store.sessionmaker)
    plan_id = await _plan(store)
    other_id = await _plan(store)
    user = await store.users.create("kari@example.no", "Kari Nilsen")
    version = await repo.create_version(
        plan_id, "named", _zones(), name="  Før møtet 15. januar ✅ ", created_by=user.id
    )
    assert version.name == "Før møtet 15. januar ✅" and version.created_by_name == "Kari Nilsen"
    assert version.created_at.tzinfo is not None
    assert await repo.get_version(other_id, version.id) is None  # another plan's id: nothing
    fetched = await repo.get_version(plan_id, version.id)
    assert fetched == version
    zones = await repo.version_zones(version.id)
    assert zones == _zones()
    assert [v.id for v in await repo.list_versions(plan_id)] == [version.id]
    assert await repo.list_versions(other_id) == []


async def test_bad_versions_are_refused(store: Store) -> None:
    repo = VersionRepo(store.sessionmaker)
    plan_id = await _plan(store)
    for kwargs in (
        {"kind": "named", "name": " "},
        {"kind": "named", "name": "x" * 201},
        {"kind": "named"},
        {"kind": "daily"},
        {"kind": "published"},
        {"kind": "bogus"},
    ):
        with pytest.raises(InvalidValue):
            await repo.create_version(plan_id, zones=_zones(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await repo.create_version("no-such-plan", "before_restore", _zones())
    assert await repo.list_versions(plan_id) == []


async def test_one_daily_version_per_plan_and_day_even_when_racing(store: Store) -> None:
    repo = VersionRepo(store.sessionmaker)
    plan_id = await _plan(store)
    day = date(2026, 3, 12)
    results = await asyncio.gather(
        *(repo.create_version(plan_id, "daily", _zones(), day=day) for _ in range(4)),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if isinstance(r, BaseException))
    await repo.create_version(plan_id, "daily", _zones(), day=date(2026, 3, 13))
    # Named versions carry no day and never collide with each other.
    await repo.create_version(plan_id, "named", _zones(), name="A")
    await repo.create_version(plan_id, "named", _zones(), name="A")
    assert len(await repo.list_versions(plan_id)) == 4


def _seal(number: int, at: datetime) -> str:
    """Storage stores the record the server writes; any text will do here."""
    return f'{{"number":{number},"at":"{at.isoformat()}","by":"Åse Ødegård 🫐"}}'


def _approval(published: MinutesRecord, at: datetime) -> str:
    return f'{{"of":"{published.publication_sha256}","at":"{at.isoformat()}"}}'


async def test_published_minutes_are_numbered_hashed_and_refused_when_unchanged(
    store: Store,
) -> None:
    repo = VersionRepo(store.sessionmaker)
    plan_id = await _plan(store)
    user = await store.users.create("kari@example.no", "Kari Nilsen")
    content = '{"agenda":[{"title":"Skole 📚","decision":"Åse får leksehjelp"}]}'
    digest = hashlib.sha256(content.encode()).hexdigest()
    first = await repo.publish_minutes(
        plan_id, "mote-1", "Ansvarsgruppemøte", content, digest, user.id, _zones(), _seal
    )
    assert first.number == 1 and first.published_by_name == "Kari Nilsen"
    assert first.approved_at is None and first.plan_version_id is not None
    assert first.content_user_ids is None  # published here: the content's ids are ours
    assert first.hash_version == 2 and first.published_here
    assert first.publication == _seal(1, first.published_at)
    assert first.publication_sha256 == hashlib.sha256(first.publication.encode()).hexdigest()
    with pytest.raises(Conflict):
        await repo.publish_minutes(
            plan_id, "mote-1", "Ansvarsgruppemøte", content, digest, user.id, _zones(), _seal
        )
    assert len(await repo.list_published(plan_id)) == 1
    versions = await repo.list_versions(plan_id)
    assert [v.kind for v in versions] == ["published"]  # the refused one stored nothing

    corrected = content.replace("leksehjelp", "leksehjelp to dager i uka")
    second = await repo.publish_minutes(
        plan_id,
        "mote-1",
        "Ansvarsgruppemøte",
        corrected,
        hashlib.sha256(corrected.encode()).hexdigest(),
        user.id,
        _zones(),
        _seal,
    )
    assert second.number == 2
    old = await repo.get_published(plan_id, "mote-1", 1)
    assert old is not None and old.content == content  # the old version stays readable
    assert [m.number for m in await repo.list_published(plan_id, "mote-1")] == [2, 1]
    assert await repo.get_published(plan_id, "mote-1", 3) is None


async def test_approval_is_recorded_once(store: Store) -> None:
    repo = VersionRepo(store.sessionmaker)
    plan_id = await _plan(store)
    owner = await store.users.create("jonas@example.no", "Jonas Berg")
    await repo.publish_minutes(plan_id, "mote-1", "Møte", "{}", "0" * 64, None, [], _seal)
    approved = await repo.approve_minutes(plan_id, "mote-1", 1, owner.id, "planeier", _approval)
    assert approved.approved_by_name == "Jonas Berg" and approved.approved_role == "planeier"
    assert approved.approved_at is not None
    assert approved.approval == _approval(approved, approved.approved_at)
    assert approved.approval_sha256 == hashlib.sha256(approved.approval.encode()).hexdigest()
    with pytest.raises(Conflict):
        await repo.approve_minutes(plan_id, "mote-1", 1, owner.id, "planeier", _approval)
    with pytest.raises(NotFound):
        await repo.approve_minutes(plan_id, "mote-1", 2, owner.id, "planeier", _approval)
    again = await repo.get_published(plan_id, "mote-1", 1)
    assert again is not None and again.approved_at == approved.approved_at


async def test_changed_plans_for_the_daily_task(store: Store) -> None:
    repo = VersionRepo(store.sessionmaker)
    plan_id = await _plan(store)
    quiet_id = await _plan(store)
    assert plan_id not in await repo.plans_changed_since_last_version(["content", "area"])
    zone = await store.plans.get_zone(plan_id, "content", "")
    assert zone is not None
    await store.zone_log.append_batch([(zone.id, b"\x00\x00")])
    changed = await repo.plans_changed_since_last_version(["content", "area"])
    assert plan_id in changed and quiet_id not in changed
    await repo.create_version(plan_id, "named", _zones(), name="Nå")
    assert plan_id not in await repo.plans_changed_since_last_version(["content", "area"])
    await asyncio.sleep(0.01)
    await store.zone_log.append_batch([(zone.id, b"\x00\x00")])
    seqs = [seq for seq, _ in (await store.zone_log.load(zone.id)).updates]
    await store.zone_log.compact(zone.id, seqs, b"\x00\x00")  # folded into a snapshot: still seen
    assert plan_id in await repo.plans_changed_since_last_version(["content", "area"])


async def test_versions_can_be_purged_and_published_minutes_stay(store: Store) -> None:
    repo = VersionRepo(store.sessionmaker)
    plan_id = await _plan(store)
    other_id = await _plan(store)
    published = await repo.publish_minutes(
        plan_id, "mote-1", "Møte", "{}", "0" * 64, None, _zones(), _seal
    )
    await repo.create_version(plan_id, "named", _zones(), name="Åse 🫐")
    kept = await repo.create_version(other_id, "named", _zones(), name="Annen plan")
    assert await repo.purge_versions(plan_id) == 2
    assert await repo.list_versions(plan_id) == []
    assert published.plan_version_id is not None
    assert await repo.version_zones(published.plan_version_id) == []
    still = await repo.get_published(plan_id, "mote-1", 1)
    assert still is not None and still.plan_version_id is None and still.content == "{}"
    assert [v.id for v in await repo.list_versions(other_id)] == [kept.id]
