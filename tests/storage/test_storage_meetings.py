"""MeetingRepo on SQLite and PostgreSQL: scheduling with invitees, agenda and minutes zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.errors import AlreadyExists, InvalidValue, NotFound
from storage.repositories.meetings import AgendaItem, AgendaRef, MeetingRecord, MeetingRepo
from tests.storage.conftest import Store

START = datetime(2031, 3, 4, 13, 0, tzinfo=UTC)


async def _plan(store: Store) -> tuple[str, list[int]]:
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(municipality, "Plan for Åse Ødegård 🌿", "Åse Ødegård")
    users = []
    for i, role in enumerate(("koordinator", "deltaker", "planeier")):
        user = await store.users.create(f"person{i}@eksempelvik.test", f"Åse Ødegård {i}")
        await store.plans.add_member(plan.id, user.id, role)
        users.append(user.id)
    return plan.id, users


async def test_schedule_and_read_back(store: Store) -> None:
    repo = MeetingRepo(store.sessionmaker)
    plan_id, users = await _plan(store)
    agenda = [
        AgendaItem("sak-1", "Velkommen – æøå 👋"),
        AgendaItem("sak-2", "Tiltak: leksehjelp", AgendaRef("measure", "skole", "t-1")),
    ]
    record = await repo.schedule(
        plan_id,
        title="Ansvarsgruppemøte",
        starts_at=START,
        ends_at=START + timedelta(hours=1),
        place="Rom 204, Blåbærveien 1",
        video_link=None,
        agenda=agenda,
        invitee_ids=users[:2],
        created_by_user_id=users[0],
    )
    assert record.zone_id is not None
    zone = await store.plans.get_zone(plan_id, "minutes", record.id)
    assert zone is not None and zone.id == record.zone_id
    again = await repo.get(plan_id, record.id)
    assert again is not None
    assert again.agenda == tuple(agenda)
    assert again.invitee_ids == tuple(sorted(users[:2]))
    assert again.starts_at == START and again.place == "Rom 204, Blåbærveien 1"
    assert again.zone_id == zone.id
    assert [m.id for m in await repo.list_for_plan(plan_id)] == [record.id]

    await repo.set_invitees(record.id, users)
    assert (await repo.get(plan_id, record.id)).invitee_ids == tuple(sorted(users))  # type: ignore[union-attr]

    nearest = await repo.next_by_plan(users[2], START - timedelta(days=1))
    assert nearest[plan_id].id == record.id
    assert await repo.next_by_plan(users[2], START + timedelta(minutes=1)) == {}
    assert await repo.cancel(record.id) is True
    assert await repo.cancel(record.id) is False
    assert await repo.next_by_plan(users[2], START - timedelta(days=1)) == {}


@pytest.mark.parametrize(
    "change",
    [
        {"invitee_ids": []},
        {"ends_at": START},
        {"place": None},
        {"agenda": [AgendaItem("a", "x"), AgendaItem("a", "y")]},
        {"meeting_id": "Not OK!"},
    ],
)
async def test_bad_input_saves_nothing(store: Store, change: dict[str, object]) -> None:
    repo = MeetingRepo(store.sessionmaker)
    plan_id, users = await _plan(store)
    values: dict[str, object] = {
        "title": "Ansvarsgruppemøte",
        "starts_at": START,
        "ends_at": START + timedelta(hours=1),
        "place": "Rom 204",
        "video_link": None,
        "agenda": [],
        "invitee_ids": users,
        "created_by_user_id": users[0],
        **change,
    }
    with pytest.raises(InvalidValue):
        await repo.schedule(plan_id, **values)  # type: ignore[arg-type]
    assert await repo.list_for_plan(plan_id) == []
    assert [z.kind for z in await store.plans.list_zones(plan_id)] == ["content", "comments"]


async def test_list_is_earliest_first_in_utc_and_ids_stay_unique(store: Store) -> None:
    """What the published-minutes page relies on (it was PlanRepo.list_meetings/get_meeting
    before MeetingRepo became the meetings table's only owner)."""
    repo = MeetingRepo(store.sessionmaker)
    plan_id, users = await _plan(store)
    oslo = timezone(timedelta(hours=1))
    values: dict[str, object] = {"agenda": [], "invitee_ids": users, "created_by_user_id": None}
    later = await repo.schedule(
        plan_id,
        meeting_id="mote-2026-03-01",
        title="Evaluering – Åse Ødegård 🗓️",
        starts_at=datetime(2026, 3, 1, 14, tzinfo=oslo),
        ends_at=datetime(2026, 3, 1, 15, tzinfo=oslo),
        place=None,
        video_link="https://video.eksempelvik.test/rom",
        **values,  # type: ignore[arg-type]
    )
    first = await repo.schedule(
        plan_id,
        title="Ansvarsgruppemøte 15. januar",
        starts_at=datetime(2026, 1, 15, 14, tzinfo=oslo),
        ends_at=datetime(2026, 1, 15, 15, tzinfo=oslo),
        place="Eksempelvik vgs., rom 204",
        video_link=None,
        **values,  # type: ignore[arg-type]
    )
    meetings = await repo.list_for_plan(plan_id)
    assert [m.id for m in meetings] == [first.id, later.id]
    assert meetings[0].starts_at == datetime(2026, 1, 15, 13, tzinfo=UTC)
    assert meetings[0].title == "Ansvarsgruppemøte 15. januar"
    fetched = await repo.get(plan_id, later.id)
    assert fetched is not None and fetched.place is None
    assert fetched.title == "Evaluering – Åse Ødegård 🗓️"
    assert await repo.get("annen-plan", later.id) is None

    again = {
        "title": "Igjen",
        "starts_at": START,
        "ends_at": START + timedelta(hours=1),
        "place": "Rom 204",
        "video_link": None,
        **values,
    }
    with pytest.raises(AlreadyExists):
        await repo.schedule(plan_id, meeting_id=later.id, **again)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await repo.schedule("finnes-ikke", **again)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="time zone"):
        naive = {**again, "starts_at": datetime(2026, 4, 1), "title": "Naiv"}
        await repo.schedule(plan_id, **naive)  # type: ignore[arg-type]
    assert await repo.list_for_plan(plan_id) == meetings


async def test_invitee_must_be_member(store: Store) -> None:
    repo = MeetingRepo(store.sessionmaker)
    plan_id, users = await _plan(store)
    stranger = await store.users.create("ola@eksempelvik.test", "Ola Nordmann")
    with pytest.raises(InvalidValue):
        await repo.schedule(
            plan_id,
            title="Møte",
            starts_at=START,
            ends_at=START + timedelta(hours=1),
            place=None,
            video_link="https://video.example/rom",
            agenda=[],
            invitee_ids=[users[0], stranger.id],
            created_by_user_id=users[0],
        )
    assert await repo.list_for_plan(plan_id) == []
    with pytest.raises(NotFound):
        await repo.cancel("finnes-ikke")


async def _scheduled(repo: MeetingRepo, plan_id: str, users: list[int]) -> MeetingRecord:
    return await repo.schedule(
        plan_id,
        title="Ansvarsgruppemøte",
        starts_at=START,
        ends_at=START + timedelta(hours=1),
        place="Rom 204, Blåbærveien 1",
        video_link=None,
        agenda=[AgendaItem("sak-1", "Velkommen – æøå 👋")],
        invitee_ids=users[:2],
        created_by_user_id=users[0],
    )


async def test_update_reschedules_and_counts_edits(store: Store) -> None:
    repo = MeetingRepo(store.sessionmaker)
    plan_id, users = await _plan(store)
    record = await _scheduled(repo, plan_id, users)
    assert record.sequence == 0
    later = START + timedelta(days=2, hours=3)
    updated = await repo.update(
        plan_id,
        record.id,
        title="  Ansvarsgruppemøte – flyttet 🗓️ ",
        starts_at=later,
        ends_at=later + timedelta(minutes=90),
        place=None,
        video_link="https://video.eksempelvik.test/rom",
        invitee_ids=[users[0], users[2], users[2]],
    )
    assert updated.sequence == 1
    again = await repo.get(plan_id, record.id)
    assert again == updated
    assert again.title == "Ansvarsgruppemøte – flyttet 🗓️"
    assert again.starts_at == later and again.ends_at == later + timedelta(minutes=90)
    assert again.place is None and again.video_link == "https://video.eksempelvik.test/rom"
    assert again.invitee_ids == tuple(sorted([users[0], users[2]]))
    assert again.agenda == record.agenda and again.zone_id == record.zone_id
    assert again.updated_at is not None and record.updated_at is not None
    assert again.updated_at >= record.updated_at
    zone = await store.plans.get_zone(plan_id, "minutes", record.id)
    assert zone is not None and zone.title == "Ansvarsgruppemøte – flyttet 🗓️"

    second = await repo.update(
        plan_id,
        record.id,
        title="Ansvarsgruppemøte",
        starts_at=later,
        ends_at=later + timedelta(hours=1),
        place="Ørnes skole",
        video_link=None,
        invitee_ids=users,
    )
    assert second.sequence == 2 and second.invitee_ids == tuple(sorted(users))
    assert (await repo.get(plan_id, record.id)) == second


@pytest.mark.parametrize(
    "change",
    [
        {"invitee_ids": []},
        {"ends_at": START},
        {"place": None},
        {"title": "  "},
        {"starts_at": START.replace(tzinfo=None)},
    ],
)
async def test_bad_update_changes_nothing(store: Store, change: dict[str, object]) -> None:
    repo = MeetingRepo(store.sessionmaker)
    plan_id, users = await _plan(store)
    record = await _scheduled(repo, plan_id, users)
    values: dict[str, object] = {
        "title": "Nytt møte ✏️",
        "starts_at": START,
        "ends_at": START + timedelta(hours=1),
        "place": None,
        "video_link": None,
        "invitee_ids": users,
        **change,
    }
    if change.get("place", "") is not None:
        values["place"] = "Ørnes skole"
    with pytest.raises(InvalidValue):
        await repo.update(plan_id, record.id, **values)  # type: ignore[arg-type]
    assert await repo.get(plan_id, record.id) == record


async def test_update_refuses_cancelled_strangers_and_other_plans(store: Store) -> None:
    repo = MeetingRepo(store.sessionmaker)
    plan_id, users = await _plan(store)
    record = await _scheduled(repo, plan_id, users)
    stranger = await store.users.create("ola@eksempelvik.test", "Ola Nordmann")
    values: dict[str, object] = {
        "title": "Møte",
        "starts_at": START,
        "ends_at": START + timedelta(hours=1),
        "place": "Rom 204",
        "video_link": None,
    }
    with pytest.raises(InvalidValue):
        await repo.update(plan_id, record.id, invitee_ids=[stranger.id], **values)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await repo.update("annen-plan", record.id, invitee_ids=users, **values)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await repo.update(plan_id, "finnes-ikke", invitee_ids=users, **values)  # type: ignore[arg-type]
    assert await repo.get(plan_id, record.id) == record
    assert await repo.cancel(record.id) is True
    cancelled = await repo.get(plan_id, record.id)
    with pytest.raises(InvalidValue):
        await repo.update(plan_id, record.id, invitee_ids=users, **values)  # type: ignore[arg-type]
    assert await repo.get(plan_id, record.id) == cancelled
