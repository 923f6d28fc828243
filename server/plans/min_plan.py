"""GET /plans/{plan_id}/min: "Min plan", the person's own view of their plan (issue 13).

One phone-first screen in plain words for the planeier and the verge: my goals and how far
each has come, what happens next and who does it, the next meeting, and who has been in my
plan lately. Everyone else gets the 404 of a zone they may not open: this is the person's
page, not a second plan page (the koordinator has the full plan).

The server renders all of it, so the page works without the script; the script
(client/src/min/app.js) then opens the plan's zones and re-renders goals and measures the
moment the group changes them.

My words (issue 13): the person writes "Om meg" (the content zone's `aboutMe`), each goal's
"Jeg vil ..." and a short status of their own (crdt/schema.py `OWN_FIELDS`) from here. Whose
words they are comes from the server's records (server/core/authors.py), never from the
document: the page names whoever the record shows wrote them, and no one when none does.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from crdt.richtext import nodes_plain
from crdt.schema import (
    ABOUT_ME,
    AGENDA,
    AREA,
    CONTENT,
    EVALUATIONS,
    GOALS,
    MEASURES,
    MINUTES,
    OWN_EMOJI,
    OWN_NOTE,
    OWN_STATUS,
    OWN_STATUS_FIELDS,
    OWN_WORDS,
    zone_name,
)
from crdt.summary import DONE_STATUSES
from server.core.access import APPROVE_ROLES, Role
from server.core.authors import (
    Change,
    last_field_changes,
    owner_comment_credit,
    recorded_now,
    zone_changes,
)
from server.core.clock import OSLO, norwegian_date
from server.core.identity import colour_for
from server.core.minutes_people import local_user_ids, parse_content
from server.core.note_access import MAX_NOTE_CHARS, may_write_notes
from server.core.zones import zone_data
from server.web.errors import NotFound
from server.web.i18n import language_of
from server.web.security import csrf_token
from server.web.templating import render
from server.web.visit import PlanVisit, visit
from storage.repositories.access_history import HistoryKind, HistoryQuery
from storage.repositories.meetings import MeetingRecord

# The person and the one who speaks for them: the page is written to them ("my plan").
MIN_PLAN_ROLES = frozenset({Role.PLANEIER, Role.VERGE})
RECENT_VISITORS = 5  # people shown in "Hvem har vært i planen min"
_HISTORY_ROWS = 50  # visits looked at to find them


def may_open_min_plan(role: str) -> bool:
    return role in MIN_PLAN_ROLES


async def min_plan_page(request: Request) -> Response:
    v = await visit(request)
    if not may_open_min_plan(v.role):
        raise NotFound()
    # One id for this page load and its sockets: the access log shows one visit.
    visit_id = secrets.token_hex(16)
    v.audit(request, "plan_view", details={"visit": visit_id, "page": "min"})
    members = await v.services.plans.list_members_with_names(v.plan.id)
    names = {m.user_id: name for m, name, _ in members}
    person = next((m.user_id for m, _, _ in members if m.role == Role.PLANEIER), None)
    roles = {str(m.user_id): m.role for m, _, _ in members}
    areas, zones = await _areas(v, names, roles)
    about_me, content_zone = await _about_me(v, names, roles)
    upcoming = await _upcoming(v)
    before = [meeting_view(m, names) | {"id": m.id} for m in upcoming] if _writes(v) else []
    app_data = {
        "planId": v.plan.id,
        "lang": language_of(request),
        "today": v.today.isoformat(),
        "zones": zones,
        "content": content_zone,
        "names": {str(uid): name for uid, name in names.items()},
        "roles": roles,
        "me": {"id": str(v.user.id), "name": v.user.name, "color": colour_for(v.user.id)},
        "visit": visit_id,
        "meetings": [m["id"] for m in before],
        "csrf": csrf_token(request, v.services.secret_key),
    }
    context = {
        "plan": {"id": v.plan.id, "title": v.plan.title, "person_name": v.plan.person_name},
        "goals": [goal for area in areas for goal in area["goals"]],
        "measures": sorted(
            (m for area in areas for m in area["measures"]),
            key=lambda m: (m["done"], m["end"] or "9999-12-31", m["title"]),
        ),
        "about_me": about_me,
        "meeting": await _meeting_with_agenda(v, upcoming[0], names) if upcoming else None,
        "before": before,
        "may_write_notes": _writes(v),
        "max_note": MAX_NOTE_CHARS,
        "after": await _after(v, person),
        "visitors": await _recent_visitors(v),
        "app_data": json.dumps(app_data, ensure_ascii=False),
    }
    return render(request, "min_plan.html", context, user=v.user)


async def _areas(
    v: PlanVisit, names: Mapping[int, str], roles: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each readable, current life area's goals and measures, and the zones the script opens
    (written only where the person writes their own words)."""
    areas: list[dict[str, Any]] = []
    zones: list[dict[str, Any]] = []
    for zone in await v.services.plans.list_zones(v.plan.id):
        if zone.kind != AREA or zone.retired_at is not None:
            continue
        access = v.access(AREA, zone.key)
        if access is None:
            continue
        data = zone_data(await v.services.registry.read(zone.id), AREA, zone.id)
        area = area_view(zone.title, data, names, v.today)
        changes = await zone_changes(v.services.repos.zone_log, zone.id, AREA)
        for goal in area["goals"]:
            own = goal["own"]
            goal["words_by"] = own_credit(changes, goal["id"], (OWN_WORDS,), own, v, names, roles)
            goal["status_by"] = own_credit(
                changes, goal["id"], OWN_STATUS_FIELDS, own, v, names, roles
            )
        areas.append(area)
        room = f"plan/{v.plan.id}/{zone_name(AREA, zone.key)}"
        zones.append(
            {"room": room, "kind": AREA, "key": zone.key, "title": zone.title, "access": access}
        )
    return areas, zones


async def _about_me(
    v: PlanVisit, names: Mapping[int, str], roles: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """ "Om meg" as lines of plain text (the script puts the editor in their place) with who
    last wrote it by the records, and the content zone the script opens to edit it."""
    access = v.access(CONTENT, "")
    zone = await v.services.plans.get_zone(v.plan.id, CONTENT, "")
    if access is None or zone is None:
        return {"lines": [], "by": None}, None
    data = zone_data(await v.services.registry.read(zone.id), CONTENT, zone.id)
    lines = [line for line in nodes_plain(data.get(ABOUT_ME) or []).split("\n") if line.strip()]
    by = None
    if lines:
        changes = await zone_changes(v.services.repos.zone_log, zone.id, CONTENT)
        by = credit_of(last_field_changes(changes, ABOUT_ME).get(ABOUT_ME), v, names, roles)
    room = f"plan/{v.plan.id}/{zone_name(CONTENT)}"
    return {"lines": lines, "by": by}, {"room": room, "kind": CONTENT, "key": "", "access": access}


def own_credit(
    changes: list[Change],
    item_id: str,
    fields: tuple[str, ...],
    own: Mapping[str, Any],
    v: PlanVisit,
    names: Mapping[int, str],
    roles: Mapping[str, str],
) -> dict[str, str] | None:
    """Who wrote a goal's own words (or its own status), by the server's records: "me",
    "owner" (the planeier or the verge), "other" (anyone else: their name, never the
    person's) or "unknown" (no record holds what the fields hold now). None when empty."""
    values = {"ownWords": own["words"], OWN_STATUS: own["status"], OWN_EMOJI: own["emoji"]}
    values[OWN_NOTE] = own["note"]
    if not any(values[f] for f in fields):
        return None
    change = last_field_changes(changes, *fields).get(item_id)
    if not recorded_now(changes, item_id, fields, values):
        change = None
    return credit_of(change, v, names, roles)


def credit_of(
    change: Change | None, v: PlanVisit, names: Mapping[int, str], roles: Mapping[str, str]
) -> dict[str, str]:
    """The credit the page shows for the change that last wrote something (see
    `own_credit`): the same rule as an evaluation's `ownerComment`."""
    credit = owner_comment_credit(change, roles)
    if change is None or credit is None or change.user_id is None:
        return {"credit": "unknown", "name": ""}
    name = names.get(change.user_id, "")
    if change.user_id == v.user.id:
        return {"credit": "me", "name": name}
    return {"credit": "owner" if credit == "owner" else "other", "name": name}


def area_view(
    title: str, data: Mapping[str, Any], names: Mapping[int, str], today: date
) -> dict[str, Any]:
    """Goals with how far each has come (measures done, the latest evaluation) and the
    measures with who does them and by when. client/src/min/app.js computes the same from the
    live document: keep the two in step."""
    measures = list(data.get(MEASURES, ()))
    latest: dict[str, tuple[str, str]] = {}
    for item in data.get(EVALUATIONS, ()):
        goal_id, when, attained = (
            item.get("goalId"),
            str(item.get("date") or ""),
            item.get("attainment"),
        )
        if goal_id and attained and (goal_id not in latest or when >= latest[goal_id][0]):
            latest[goal_id] = (when, str(attained))
    goals = []
    for item in data.get(GOALS, ()):
        mine = [m for m in measures if m.get("goalId") == item["id"]]
        goals.append(
            {
                "id": item["id"],
                "area": title,
                "title": str(item.get("title") or ""),
                "done": sum(1 for m in mine if m.get("status") in DONE_STATUSES),
                "total": len(mine),
                "attainment": latest[item["id"]][1] if item["id"] in latest else None,
                "own": {
                    "words": str(item.get(OWN_WORDS) or ""),
                    "status": item.get(OWN_STATUS),
                    "emoji": item.get(OWN_EMOJI),
                    "note": str(item.get(OWN_NOTE) or ""),
                },
            }
        )
    return {
        "goals": goals,
        "measures": [measure_view(m, names, today) for m in measures],
    }


def measure_view(item: Mapping[str, Any], names: Mapping[int, str], today: date) -> dict[str, Any]:
    done = item.get("status") in DONE_STATUSES
    end = item.get("end")
    who = [names[int(uid)] for uid in item.get("responsible") or () if _member(uid, names)]
    if item.get("externalParty"):
        who.append(str(item["externalParty"]))
    return {
        "id": item["id"],
        "title": str(item.get("title") or ""),
        "who": who,
        "end": end,
        "end_text": norwegian_date(end),
        "done": done,
        "overdue": bool(end and not done and end < today.isoformat()),
    }


def _member(uid: object, names: Mapping[int, str]) -> bool:
    """A responsible id that names a member now (a former member's id shows no name)."""
    return isinstance(uid, str) and uid.isdigit() and int(uid) in names


async def _upcoming(v: PlanVisit) -> list[MeetingRecord]:
    """The meetings that are not over and not cancelled, soonest first: the planeier and
    verge see every meeting of their plan (as on Mine planer)."""
    now = datetime.now(UTC)
    return [
        m
        for m in await v.services.meetings.list_for_plan(v.plan.id)
        if not m.cancelled and (m.ends_at or m.starts_at) >= now
    ]


def _writes(v: PlanVisit) -> bool:
    return may_write_notes(v.role, v.plan.person_birth_date, v.today)


async def _meeting_with_agenda(
    v: PlanVisit, meeting: MeetingRecord, names: Mapping[int, str]
) -> dict[str, Any]:
    """The next meeting; its agenda as the minutes zone holds it now (a note the person
    said yes to is there), else as it was scheduled."""
    view = meeting_view(meeting, names)
    if meeting.zone_id is not None and v.access(MINUTES, meeting.id) is not None:
        data = zone_data(await v.services.registry.read(meeting.zone_id), MINUTES, meeting.zone_id)
        titles = [str(item.get("title") or "") for item in data.get(AGENDA, ())]
        if titles:
            view["agenda"] = [title for title in titles if title.strip()]
    return view


async def _after(v: PlanVisit, person: int | None) -> dict[str, Any] | None:
    """ "Etter møtet": the newest published minutes the member may read, with what was
    decided and the action items whose responsible is the person, and whether they are
    approved (the approval itself is on the published page, server/meetings/published.py)."""
    for record in await v.services.repos.versions.list_published(v.plan.id):
        if v.access(MINUTES, record.meeting_id) is None:
            continue
        content = parse_content(record.content)
        local = local_user_ids(content, record.content_user_ids)
        decisions = [
            {"title": str(d.get("title") or ""), "decision": str(d.get("decision") or "")}
            for d in content.get("decisions") or ()
            if isinstance(d, dict) and str(d.get("decision") or "").strip()
        ]
        tasks = []
        for item in content.get("actionItems") or ():
            if not isinstance(item, dict) or not str(item.get("what") or "").strip():
                continue
            uid = str(item.get("responsibleUserId") or "")
            if person is None or local.get(uid) != person:
                continue
            due = item.get("due") if isinstance(item.get("due"), str) else None
            tasks.append({"what": str(item["what"]), "due": due, "due_text": norwegian_date(due)})
        starts = content.get("startsAt")
        when = ""
        if isinstance(starts, str):
            try:
                when = datetime.fromisoformat(starts).astimezone(OSLO).strftime("%d.%m.%Y")
            except ValueError:
                when = ""
        url = f"/plans/{v.plan.id}/meetings/{record.meeting_id}/published/{record.number}"
        return {
            "title": record.title,
            "date": when,
            "url": url,
            "decisions": decisions,
            "tasks": tasks,
            "approved": record.approved_at is not None,
            "may_approve": v.role in APPROVE_ROLES and record.approved_at is None,
        }
    return None


def meeting_view(meeting: MeetingRecord, names: Mapping[int, str]) -> dict[str, Any]:
    start = meeting.starts_at.astimezone(OSLO)
    end = meeting.ends_at.astimezone(OSLO) if meeting.ends_at else None
    link = meeting.video_link or ""
    parts = urlsplit(link)
    return {
        "title": meeting.title,
        "iso": start.isoformat(),
        "date": start.strftime("%d.%m.%Y"),
        "start": start.strftime("%H.%M"),
        "end": end.strftime("%H.%M") if end else None,
        "place": meeting.place,
        "video_link": link if parts.scheme in ("http", "https") and parts.netloc else None,
        "who": [names[uid] for uid in meeting.invitee_ids if uid in names],
        "agenda": [item.title for item in meeting.agenda],
    }


async def _recent_visitors(v: PlanVisit) -> list[dict[str, str]]:
    """Who else has been in the plan lately, newest first: names and dates only."""
    # Visits, plan pages opened and notes read (server/meetings/notes.py): all of it is
    # someone having been in the plan.
    query = HistoryQuery(v.plan.id, kind=HistoryKind.ALL)
    page = await v.services.repos.audit.access_history(query, _HISTORY_ROWS, 0)
    return recent_people(
        [(row.user_id, row.user_name, row.started_at) for row in page.rows], v.user.id
    )


def recent_people(
    rows: Sequence[tuple[int | None, str | None, datetime]], me: int
) -> list[dict[str, str]]:
    seen: set[int] = set()
    people = []
    for user_id, name, started in rows:
        if user_id is None or name is None or user_id == me or user_id in seen:
            continue
        seen.add(user_id)
        local = started.astimezone(OSLO)
        people.append({"name": name, "iso": local.isoformat(), "date": local.strftime("%d.%m.%Y")})
        if len(people) == RECENT_VISITORS:
            break
    return people
