"""PlanTransferRepo on SQLite and PostgreSQL: a whole plan written in one transaction and read
back as it was (meetings with agenda and invitees, published minutes byte for byte); people
matched by e-mail, ids kept where free; any refusal writes nothing."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime

import pytest

from storage.errors import AlreadyExists, InvalidValue
from storage.repositories.meetings import AgendaItem, AgendaRef
from storage.repositories.transfer import (
    ConsentRow,
    MeetingRow,
    MemberRow,
    Person,
    PlanTransfer,
    PlanTransferRepo,
    PublishedRow,
    ZoneContent,
    ZoneRow,
)
from tests.storage.conftest import Store

PLAN_ID = "7d6c1f8e-2b1a-4c3d-9e8f-0a1b2c3d4e5f"
T0 = datetime(2025, 9, 1, 8, 30, 0, 123456, tzinfo=UTC)
T1 = datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
T2 = datetime(2026, 1, 17, 9, 15, 30, 250000, tzinfo=UTC)
MINUTES = '{"agenda":[{"decision":"Leksehjelp ✅","title":"Skole 📚"}],"title":"Møte"}'
MINUTES_2 = MINUTES.replace("✅", "🫐")
MEETING = MeetingRow(
    "mote-2026-01-15",
    "Ansvarsgruppemøte",
    T1,
    None,
    "Rom 204",
    T0,
    "https://video.example.no/rom-ø",
    (
        AgendaItem("sak-1", "Skole og læring 📚", AgendaRef("measure", "skole", "t1-2")),
        AgendaItem("sak-2", "Eventuelt"),
    ),
    7,
    T1,
    T2,
    (5, 7, 9),
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Version 1 was published in a third database, where Åse was user 3 and Per user 4: its content
# keeps those ids, and content_user_ids says who they are among the people. Version 2 has None:
# its ids are the people ids themselves.
PUBLISHED = (
    PublishedRow(
        "mote-2026-01-15",
        1,
        "Møte",
        MINUTES,
        sha(MINUTES),
        7,
        T1,
        5,
        "planeier",
        T2,
        {"3": 5, "4": 9},
    ),
    PublishedRow("mote-2026-01-15", 2, "Møte", MINUTES_2, sha(MINUTES_2), 7, T2),
)


def plan(**changes: object) -> PlanTransfer:
    values: dict[str, object] = {
        "id": PLAN_ID,
        "title": "Individuell plan for Åse Ødegård 🌱",
        "person_name": "Åse Ødegård",
        "status": "active",
        "municipality": "Ærøy kommune",
        "created_at": T0,
        "people": (
            Person(5, "ase.odegard@example.no", "Åse Ødegård"),
            Person(7, "kari.nilsen@example.no", "Kari Nilsen"),
            Person(9, "per.lund@example.no", "Per Lund"),
        ),
        "members": (
            MemberRow(5, "planeier", None, "Sier fra 🙂", T0),
            MemberRow(7, "koordinator", "Tjenester for funksjonshemmede", None, T0),
            MemberRow(9, "leser", "Legesenteret", None, T1),
        ),
        "consents": (
            ConsentRow(9, "refused", (), None, 5, T0, T1, 5),
            ConsentRow(9, "given", ("content", "area/skole"), date(2027, 8, 31), 5, T1, None, None),
        ),
        "meetings": (MEETING,),
        "published_minutes": PUBLISHED,
        "zones": (
            ZoneRow("content", "", "Felles del", 0),
            ZoneRow("area", "skole", "Skole og læring", 0),
            ZoneRow("comments", "", "Kommentarer", 0),
            ZoneRow("minutes", "mote-2026-01-15", "Ansvarsgruppemøte", 0),
        ),
    }
    values.update(changes)
    return PlanTransfer(**values)  # type: ignore[arg-type]


def states(n: int) -> list[ZoneContent]:
    return [ZoneContent(f"tilstand {i} æøå".encode(), {"i": i}) for i in range(n)]


async def test_a_plan_goes_in_whole_and_comes_back_as_it_was(store: Store) -> None:
    repo = PlanTransferRepo(store.sessionmaker)
    given: list[Mapping[int, int]] = []

    def content(ids: Mapping[int, int]) -> list[ZoneContent]:
        given.append(dict(ids))
        return states(4)

    result = await repo.create(plan(), content)
    assert given == [{5: 5, 7: 7, 9: 9}]  # a fresh database: every id kept
    assert (result.users_created, result.users_reused) == (3, 0)
    back = await repo.read(PLAN_ID)
    assert back is not None
    # Stored never as NULL (that says "published here"): None went in as each person's own id.
    identity = {"5": 5, "7": 7, "9": 9}
    assert back == plan(
        zones=tuple(ZoneRow(z.kind, z.key, z.title, z.position, z.zone_id) for z in back.zones),
        published_minutes=(
            PUBLISHED[0],
            dataclasses.replace(PUBLISHED[1], content_user_ids=identity),
        ),
    )
    for zone, expected in zip(back.zones, states(4), strict=True):
        stored = await store.zone_log.load(zone.zone_id)
        assert (stored.snapshot, stored.snapshot_seq, stored.updates) == (expected.state, 0, ())
    # Ids given explicitly moved PostgreSQL's sequence past them: the next user does not collide.
    newcomer = await store.users.create("ny@example.no", "Ny Bruker")
    assert newcomer.id == 10
    imported = await store.users.get(5)
    assert imported is not None and imported.password_hash is None


async def test_people_are_found_by_email_and_taken_ids_are_not_reused(store: Store) -> None:
    repo = PlanTransferRepo(store.sessionmaker)
    taken = [await store.users.create(f"fyll{n}@example.no", "Fyll") for n in range(7)]
    assert [u.id for u in taken] == list(range(1, 8))  # 5 and 7 belong to others here
    existing = await store.users.create("Kari.Nilsen@example.no", "Kari N.")  # id 8
    result = await repo.create(plan(), lambda ids: states(4))
    assert result.user_ids[7] == existing.id  # by e-mail, whatever the id
    assert result.user_ids[9] == 9  # free: kept
    assert result.user_ids[5] not in (5, 7, 8, 9)  # taken by another: a new one
    assert (result.users_created, result.users_reused) == (2, 1)
    back = await repo.read(PLAN_ID)
    assert back is not None
    assert [m.user_id for m in back.members] == [result.user_ids[5], existing.id, 9]
    assert back.consents[0].given_by_user_id == result.user_ids[5]
    assert back.meetings[0].invitee_ids == tuple(sorted(result.user_ids[u] for u in (5, 7, 9)))
    assert back.meetings[0].created_by_user_id == existing.id
    assert [(p.published_by, p.approved_by) for p in back.published_minutes] == [
        (existing.id, result.user_ids[5]),
        (existing.id, None),
    ]
    assert [p.content for p in back.published_minutes] == [MINUTES, MINUTES_2]  # never renumbered
    # ... but who the ids inside them are here is composed with the new ids and kept.
    ids = result.user_ids
    assert [p.content_user_ids for p in back.published_minutes] == [
        {"3": ids[5], "4": 9},
        {"5": ids[5], "7": existing.id, "9": 9},
    ]
    assert {p.email: p.name for p in back.people}["kari.nilsen@example.no"] == "Kari N."


@pytest.mark.parametrize(
    "case",
    [
        "plan exists",
        "meeting taken",
        "two koordinators",
        "unknown person",
        "content fails",
        "unknown invitee",
        "hash mismatch",
        "same version twice",
        "unknown person in minutes",
    ],
)
async def test_a_refused_import_writes_nothing(store: Store, case: str) -> None:
    repo = PlanTransferRepo(store.sessionmaker)
    if case in ("plan exists", "meeting taken"):
        await repo.create(plan(), lambda ids: states(4))
    before = await repo.count_rows()
    other_id = "00000000-0000-4000-8000-000000000001"
    attempt, error = {
        "plan exists": (plan(), AlreadyExists),
        "meeting taken": (plan(id=other_id), AlreadyExists),
        "two koordinators": (
            plan(members=(MemberRow(5, "koordinator", None, None, T0),) + plan().members[1:]),
            InvalidValue,
        ),
        "unknown person": (
            plan(members=(MemberRow(42, "deltaker", None, None, T0),)),
            InvalidValue,
        ),
        "content fails": (plan(id=other_id, meetings=()), RuntimeError),
        "unknown invitee": (
            plan(meetings=(dataclasses.replace(MEETING, invitee_ids=(5, 42)),)),
            InvalidValue,
        ),
        "hash mismatch": (
            plan(published_minutes=(dataclasses.replace(PUBLISHED[0], content=MINUTES_2),)),
            InvalidValue,
        ),
        "same version twice": (
            plan(published_minutes=(PUBLISHED[0], dataclasses.replace(PUBLISHED[1], number=1))),
            InvalidValue,
        ),
        "unknown person in minutes": (
            plan(
                published_minutes=(dataclasses.replace(PUBLISHED[0], content_user_ids={"3": 42}),)
            ),
            InvalidValue,
        ),
    }[case]

    def content(ids: Mapping[int, int]) -> list[ZoneContent]:
        if case == "content fails":  # after the people were written, inside the transaction
            raise RuntimeError("the CRDT side failed")
        return states(4)

    with pytest.raises(error):
        await repo.create(attempt, content)
    assert await repo.count_rows() == before
    assert await repo.plan_exists(PLAN_ID) == (case in ("plan exists", "meeting taken"))


async def test_unknown_plan_reads_as_none(store: Store) -> None:
    repo = PlanTransferRepo(store.sessionmaker)
    assert await repo.read(PLAN_ID) is None
    assert await repo.existing_meetings(["mote-2026-01-15"]) == set()
    assert await repo.people([1, 2]) == []
