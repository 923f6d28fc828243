"""Meetings, the server's side: who may see which meeting, what the scheduling form accepts,
what the agenda may point at, and the minutes document a new meeting starts with.

Scheduling lives in SQL (storage.repositories.meetings); the minutes text in the meeting's
`minutes/<id>` zone, which the server seeds through the room's write path (`registry.edit`),
writing whole values only (DESIGN §9).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from pycrdt import Array, Doc, Map

from crdt.schema import (
    ACTION_ITEMS,
    AGENDA,
    AREA,
    ATTENDEES,
    EVALUATIONS,
    GOALS,
    MEASURES,
    MEETING,
    MINUTES,
    append_item,
    get_root,
    new_id,
    set_fields,
    zone_name,
)
from crdt.summary import DONE_STATUSES
from server.core.access import Role, effective_access
from server.core.clock import OSLO, today_oslo
from server.core.zones import zone_data
from server.services import Services
from server.web.visit import PlanVisit
from storage.repositories.consents import MemberAccess
from storage.repositories.meetings import AgendaItem, AgendaRef, MeetingRecord

log = logging.getLogger("samplan.meetings")

# A goal is due for evaluation when it was never evaluated, or its latest evaluation's next
# review date falls within this many days (or has passed).
EVALUATION_WINDOW_DAYS = 30
MAX_TITLE, MAX_PLACE, MAX_LINK = 300, 300, 500
DEFAULT_TITLE = "Ansvarsgruppemøte"


# --- who sees what --------------------------------------------------------------------------


def minutes_access(member: MemberAccess, meeting_id: str, today: date) -> str | None:
    """'rw', 'r' or None for this member on the meeting's minutes zone (role and consent)."""
    return effective_access(member.role, MINUTES, f"{MINUTES}/{meeting_id}", member.consent, today)


def may_see_meeting(
    member: MemberAccess, user_id: int, meeting: MeetingRecord, today: date
) -> bool:
    """Invitees see their meeting; others only when they may read its minutes."""
    return user_id in meeting.invitee_ids or minutes_access(member, meeting.id, today) is not None


def may_download_ics(member: MemberAccess, user_id: int, meeting: MeetingRecord) -> bool:
    return user_id in meeting.invitee_ids or member.role == Role.KOORDINATOR


def oslo(moment: datetime) -> datetime:
    return moment.astimezone(OSLO)


def meeting_view(meeting: MeetingRecord, *, minutes: bool, ics: bool) -> dict[str, Any]:
    start = oslo(meeting.starts_at)
    end = oslo(meeting.ends_at) if meeting.ends_at else None
    return {
        "id": meeting.id,
        "title": meeting.title,
        "date": start.strftime("%d.%m.%Y"),
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M") if end else None,
        "iso": start.isoformat(),
        "place": meeting.place,
        "video_link": meeting.video_link if is_web_link(meeting.video_link or "") else None,
        "cancelled": meeting.cancelled,
        "minutes_url": f"/plans/{meeting.plan_id}/meetings/{meeting.id}" if minutes else None,
        "ics_url": f"/plans/{meeting.plan_id}/meetings/{meeting.id}.ics" if ics else None,
    }


def is_web_link(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


# --- listing -------------------------------------------------------------------------------


async def meetings_section(v: PlanVisit) -> dict[str, Any]:
    """The plan page's Møter section: upcoming (soonest first) and past (latest first)."""
    services, plan_id, user_id, member = v.services, v.plan.id, v.user.id, v.member
    today = today_oslo()
    now = datetime.now(UTC)
    upcoming: list[dict[str, Any]] = []
    past: list[dict[str, Any]] = []
    for meeting in await services.meetings.list_for_plan(plan_id):
        if not may_see_meeting(member, user_id, meeting, today):
            continue
        view = meeting_view(
            meeting,
            minutes=minutes_access(member, meeting.id, today) is not None,
            ics=may_download_ics(member, user_id, meeting),
        )
        ended = meeting.ends_at or meeting.starts_at
        (upcoming if ended >= now else past).append(view)
    past.reverse()
    return {"upcoming": upcoming, "past": past, "may_schedule": member.role == Role.KOORDINATOR}


# --- reading zones --------------------------------------------------------------------------


def _text(value: object) -> str:
    return str(value) if value is not None else ""


@dataclass
class AreaItems:
    """One area zone's goals and measures, as the scheduling form and minutes page need them."""

    key: str
    title: str
    goals: list[dict[str, Any]] = field(default_factory=list)  # {id, label, title, due}
    open_measures: list[dict[str, Any]] = field(default_factory=list)  # {id, title, end}


def area_items(key: str, title: str, data: Mapping[str, Any], today: date) -> AreaItems:
    """Goals (with whether each is due for evaluation) and open measures of one area, from
    its contract-checked JSON (`core.zones.zone_data`: a malformed item is already left out)."""
    area = AreaItems(key, title)
    latest: dict[str, tuple[str, str | None]] = {}
    for item in data.get(EVALUATIONS, ()):
        goal_id, when = item.get("goalId"), _text(item.get("date"))
        if goal_id is not None and (goal_id not in latest or when > latest[goal_id][0]):
            latest[goal_id] = (when, item.get("nextReview"))
    horizon = (today + timedelta(days=EVALUATION_WINDOW_DAYS)).isoformat()
    for item in data.get(GOALS, ()):
        found = latest.get(item["id"])
        due = found is None or (found[1] is not None and found[1] <= horizon)
        area.goals.append(
            {
                "id": item["id"],
                "label": _text(item.get("label")),
                "title": _text(item.get("title")),
                "due": due,
            }
        )
    for item in data.get(MEASURES, ()):
        if item.get("status") in DONE_STATUSES:
            continue
        area.open_measures.append(
            {"id": item["id"], "title": _text(item.get("title")), "end": item.get("end")}
        )
    return area


async def plan_areas(
    services: Services, plan_id: str, member: MemberAccess, today: date
) -> list[AreaItems]:
    """The plan's areas this member may read, with their goals and open measures."""
    result = []
    for zone in await services.plans.list_zones(plan_id):
        if zone.kind != AREA:
            continue
        name = zone_name(AREA, zone.key)
        if effective_access(member.role, AREA, name, member.consent, today) is None:
            continue
        data = zone_data(await services.registry.read(zone.id), AREA, zone.id)
        result.append(area_items(zone.key, zone.title, data, today))
    return result


# --- the scheduling form --------------------------------------------------------------------


class FormErrors(Exception):
    """The form's problems, as i18n keys, in the order the form shows its fields."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__(", ".join(keys))
        self.keys = list(keys)


@dataclass(frozen=True)
class ScheduleRequest:
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    video_link: str | None
    agenda: list[AgendaItem]
    invitee_ids: list[int]


def ref_value(kind: str, area_key: str, item_id: str) -> str:
    """The checkbox value of an agenda candidate: `kind|area|item` (ids never hold '|')."""
    return f"{kind}|{area_key}|{item_id}"


def agenda_candidates(areas: Iterable[AreaItems]) -> list[dict[str, Any]]:
    """Open measures and goals due for evaluation, as the form offers them."""
    out = []
    for area in areas:
        for goal in area.goals:
            if goal["due"]:
                title = " ".join(p for p in (goal["label"], goal["title"]) if p)
                out.append(
                    {
                        "value": ref_value("goal", area.key, goal["id"]),
                        "kind": "goal",
                        "title": title,
                        "area": area.title,
                    }
                )
        for measure in area.open_measures:
            out.append(
                {
                    "value": ref_value("measure", area.key, measure["id"]),
                    "kind": "measure",
                    "title": measure["title"],
                    "area": area.title,
                }
            )
    return out


def parse_schedule(
    form: Mapping[str, Any],
    refs: Sequence[str],
    invitees: Sequence[str],
    *,
    members: Mapping[int, str],
    candidates: Sequence[Mapping[str, Any]],
    now: datetime,
) -> ScheduleRequest:
    """Check everything; raise FormErrors listing every problem (nothing is saved then)."""
    errors: list[str] = []
    title = str(form.get("title") or "").strip() or DEFAULT_TITLE
    if len(title) > MAX_TITLE:
        errors.append("meetings.error.title")
    starts_at = ends_at = None
    try:
        day = datetime.strptime(str(form.get("date") or "").strip(), "%d.%m.%Y").date()
    except ValueError:
        errors.append("meetings.error.date")
        day = None
    start: time | None
    end: time | None
    try:
        start = _clock(form.get("start"))
        end = _clock(form.get("end"))
    except ValueError:
        errors.append("meetings.error.time")
        start = end = None
    if day is not None and start is not None and end is not None:
        starts_at = datetime.combine(day, start, tzinfo=OSLO)
        ends_at = datetime.combine(day, end, tzinfo=OSLO)
        if starts_at < now:
            errors.append("meetings.error.past")
        if ends_at <= starts_at:
            errors.append("meetings.error.end_before_start")
    place = str(form.get("place") or "").strip() or None
    link = str(form.get("video_link") or "").strip() or None
    if place is None and link is None:
        errors.append("meetings.error.where")
    if place is not None and len(place) > MAX_PLACE:
        errors.append("meetings.error.place_long")
    if link is not None and (len(link) > MAX_LINK or not is_web_link(link)):
        errors.append("meetings.error.link")
    agenda = _agenda(form, refs, candidates, errors)
    chosen: list[int] = []
    for raw in invitees:
        try:
            user_id = int(raw)
        except ValueError:
            user_id = -1
        if user_id not in members:
            errors.append("meetings.error.invitee_unknown")
            break
        chosen.append(user_id)
    if not chosen and "meetings.error.invitee_unknown" not in errors:
        errors.append("meetings.error.invitees")
    if errors or starts_at is None or ends_at is None:
        raise FormErrors(errors)
    return ScheduleRequest(title, starts_at, ends_at, place, link, agenda, sorted(set(chosen)))


def _clock(value: object) -> time:
    text = str(value or "").strip().replace(".", ":")
    return datetime.strptime(text, "%H:%M").time()


def _agenda(
    form: Mapping[str, Any],
    refs: Sequence[str],
    candidates: Sequence[Mapping[str, Any]],
    errors: list[str],
) -> list[AgendaItem]:
    known = {c["value"]: c for c in candidates}
    items: list[AgendaItem] = []
    for value in refs:
        candidate = known.get(value)
        if candidate is None:
            errors.append("meetings.error.agenda_ref")
            break
        kind, area_key, item_id = value.split("|", 2)
        prefix = "Tiltak" if kind == "measure" else "Evaluering"
        title = f"{prefix}: {candidate['title'] or '–'} ({candidate['area']})"
        items.append(AgendaItem(new_id(), title[:MAX_TITLE], AgendaRef(kind, area_key, item_id)))
    for line in str(form.get("agenda") or "").splitlines():
        line = line.strip()
        if line:
            items.append(AgendaItem(new_id(), line[:MAX_TITLE]))
    return items


# --- the minutes document a meeting starts with ---------------------------------------------


def seed_minutes(
    meeting: MeetingRecord,
    attendees: Sequence[Mapping[str, str]],
    referent_user_id: int | None,
) -> Any:
    """A `registry.edit` change: the meeting map, one attendee per invitee (attendance not
    yet known), one agenda section per agenda item. Whole values only (DESIGN §9)."""

    def change(doc: Doc[Any]) -> None:
        set_fields(
            get_root(doc, MINUTES, MEETING),
            {
                "meetingId": meeting.id,
                "nextMeeting": None,
                "referentUserId": str(referent_user_id) if referent_user_id else None,
            },
        )
        _append_attendees(get_root(doc, MINUTES, ATTENDEES), attendees)
        agenda: Array[Any] = get_root(doc, MINUTES, AGENDA)
        for item in meeting.agenda:
            append_item(agenda, {"id": item.id, "title": item.title, "body": [], "decision": ""})
        get_root(doc, MINUTES, ACTION_ITEMS)

    return change


def _append_attendees(people: Array[Any], attendees: Sequence[Mapping[str, str]]) -> None:
    for person in attendees:
        append_item(
            people,
            {
                "userId": person["userId"],
                "name": person["name"],
                "role": person["role"],
                "present": None,
                "apology": None,
                "note": "",
            },
        )


def add_attendees(attendees: Sequence[Mapping[str, str]]) -> Any:
    """A `registry.edit` change for an edited meeting: newly invited people join the minutes'
    attendees (attendance not yet known), unless someone with their user id is there already
    (found by id, never by position). Whole values only; those no longer invited stay listed,
    since the minutes may already say something about them."""

    def change(doc: Doc[Any]) -> int:
        people: Array[Any] = get_root(doc, MINUTES, ATTENDEES)
        present = {str(person.get("userId")) for person in people if isinstance(person, Map)}
        new = [person for person in attendees if person["userId"] not in present]
        _append_attendees(people, new)
        return len(new)

    return change
