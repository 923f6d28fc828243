"""The meeting pages: schedule or edit a meeting (koordinator), download it as .ics
(invitees), write its minutes together (koordinator and deltaker; the others read), and turn an
action item into a measure. A non-member gets the plan page's 404; a member without the right
role 403.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crdt.room import RoomWriteFailed
from crdt.schema import AREA, MINUTES, zone_name
from server.core.access import Role, sees_member_details
from server.core.clock import today_oslo
from server.core.identity import colour_for, identity_of, initials
from server.meetings import scheduling as m
from server.meetings.action_items import (
    ConversionError,
    ConversionLocks,
    add_measure,
    check_item,
    link_measure,
    read_action_item,
)
from server.meetings.ics import meeting_ics
from server.meetings.published import published_links
from server.web.errors import Conflict, Forbidden, NotFound, PlanClosed
from server.web.i18n import language_of, translator
from server.web.security import CSRF_FIELD, csrf_token, csrf_valid
from server.web.templating import render
from server.web.visit import PlanVisit
from server.web.visit import visit as visit_of
from storage.errors import StorageError
from storage.repositories.meetings import MeetingRecord

log = logging.getLogger("samplan.meetings")
_locks = ConversionLocks()


async def _members(visit: PlanVisit) -> list[dict[str, Any]]:
    """The plan's members as the visitor may see them: another member's unit only with
    consent to `content` (core.access.sees_member_details), like the plan page."""
    details = sees_member_details(visit.role, visit.member.consent, visit.today)
    return [
        {
            "id": ms.user_id,
            "name": name,
            "role": ms.role,
            "unit": ms.unit if details or ms.user_id == visit.user.id else None,
        }
        for ms, name, _ in await visit.services.plans.list_members_with_names(visit.plan.id)
    ]


# --- scheduling ----------------------------------------------------------------------------


async def new_meeting(request: Request) -> Response:
    return await _meeting_form(request, editing=False)


async def edit_meeting(request: Request) -> Response:
    """The koordinator reschedules a meeting: the scheduling form, prefilled, without the
    agenda (once the minutes exist, the agenda is edited there)."""
    return await _meeting_form(request, editing=True)


def _prefill(meeting: MeetingRecord) -> tuple[dict[str, str], list[str]]:
    start = m.oslo(meeting.starts_at)
    end = m.oslo(meeting.ends_at or meeting.starts_at)
    values = {
        "title": meeting.title,
        "date": start.strftime("%d.%m.%Y"),
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M"),
        "place": meeting.place or "",
        "video_link": meeting.video_link or "",
    }
    return values, [str(x) for x in meeting.invitee_ids]


async def _meeting_form(request: Request, *, editing: bool) -> Response:
    """One handler for scheduling and editing: the same checks, the same form and parsing."""
    visit = await visit_of(request)
    meeting: MeetingRecord | None = None
    if editing:
        meeting = await visit.services.meetings.get(
            visit.plan.id, request.path_params["meeting_id"]
        )
        if meeting is None:
            raise NotFound()
    if visit.member.role != Role.KOORDINATOR:
        raise Forbidden("meetings.error.not_koordinator")
    if visit.closed:
        raise PlanClosed()
    if meeting is not None and meeting.cancelled:
        raise Conflict("meetings.error.cancelled_edit")
    members = await _members(visit)
    candidates: list[dict[str, Any]] = []
    if meeting is None:
        areas = await m.plan_areas(visit.services, visit.plan.id, visit.member, today_oslo())
        candidates = m.agenda_candidates(areas)
    form_of = _FormPage(request, visit, meeting, candidates, members)
    if request.method == "GET":
        if meeting is not None:
            values, chosen = _prefill(meeting)
        else:
            values = {"title": m.DEFAULT_TITLE, "start": "14:00", "end": "15:00"}
            chosen = [str(x["id"]) for x in members]
        return form_of(values, [], [], chosen)

    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("title", "date", "start", "end", "place")}
    values |= {k: str(form.get(k) or "") for k in ("video_link", "agenda")}
    if meeting is not None:
        values["agenda"] = ""  # not on the edit form; never read from a crafted post
    refs = [str(v) for v in form.getlist("agenda_ref")] if meeting is None else []
    invitees = [str(v) for v in form.getlist("invitee")]
    if not csrf_valid(request, visit.services.secret_key, form.get(CSRF_FIELD)):
        return form_of(values, refs, ["form.expired"], invitees)
    try:
        wanted = m.parse_schedule(
            values,
            refs,
            invitees,
            members={x["id"]: x["name"] for x in members},
            candidates=candidates,
            now=datetime.now(UTC),
        )
    except m.FormErrors as exc:
        return form_of(values, refs, exc.keys, invitees)
    try:
        if meeting is None:
            saved = await visit.services.meetings.schedule(
                visit.plan.id,
                title=wanted.title,
                starts_at=wanted.starts_at,
                ends_at=wanted.ends_at,
                place=wanted.place,
                video_link=wanted.video_link,
                agenda=wanted.agenda,
                invitee_ids=wanted.invitee_ids,
                created_by_user_id=visit.user.id,
            )
        else:
            saved = await visit.services.meetings.update(
                visit.plan.id,
                meeting.id,
                title=wanted.title,
                starts_at=wanted.starts_at,
                ends_at=wanted.ends_at,
                place=wanted.place,
                video_link=wanted.video_link,
                invitee_ids=wanted.invitee_ids,
            )
    except StorageError:
        log.warning("meeting form refused by storage plan_id=%s", visit.plan.id)
        return form_of(values, refs, ["meetings.error.invitees"], invitees)
    if meeting is None:
        await _seed(visit, saved, members)
        await visit.services.meeting_notices.scheduled(saved, visit.user.id)
        action = "meeting_schedule"
    else:
        added = set(saved.invitee_ids) - set(meeting.invitee_ids)
        await _add_attendees(visit, saved, _attendees(members, added))
        await visit.services.meeting_notices.changed(meeting, saved, visit.user.id)
        action = "meeting_update"
    visit.audit(
        request,
        action,
        zone=zone_name(MINUTES, saved.id),
        details={"meeting_id": saved.id, "invitees": list(saved.invitee_ids)},
    )
    return RedirectResponse(f"/plans/{visit.plan.id}#plan-meetings", status_code=303)


def _attendees(members: list[dict[str, Any]], ids: Collection[int]) -> list[dict[str, str]]:
    """The minutes' attendee values for these members (by user id), as seeding writes them."""
    t = translator("nb")
    return [
        {"userId": str(x["id"]), "name": x["name"], "role": x["unit"] or t(f"role.{x['role']}")}
        for x in members
        if x["id"] in ids
    ]


async def _seed(visit: PlanVisit, meeting: MeetingRecord, members: list[dict[str, Any]]) -> None:
    attendees = _attendees(members, meeting.invitee_ids)
    if meeting.zone_id is None:
        return
    try:
        change = m.seed_minutes(meeting, attendees, visit.user.id)
        await visit.services.registry.edit(meeting.zone_id, change, "minutes", actor=visit.user.id)
    except RoomWriteFailed:
        # The meeting stands; its minutes start empty and can still be written in the page.
        log.error("seeding minutes failed meeting_id=%s", meeting.id)


async def _add_attendees(
    visit: PlanVisit, meeting: MeetingRecord, attendees: list[dict[str, str]]
) -> None:
    if meeting.zone_id is None or not attendees:
        return
    try:
        await visit.services.registry.edit(
            meeting.zone_id, m.add_attendees(attendees), "minutes", actor=visit.user.id
        )
    except RoomWriteFailed:
        # The meeting is saved; the new invitee can still be added in the minutes page.
        log.error("adding attendees failed meeting_id=%s", meeting.id)


class _FormPage:
    """Renders meeting_new.html for scheduling or editing with what was typed and the errors."""

    def __init__(
        self,
        request: Request,
        visit: PlanVisit,
        meeting: MeetingRecord | None,
        candidates: list[dict[str, Any]],
        members: list[dict[str, Any]],
    ) -> None:
        self.request, self.visit, self.meeting = request, visit, meeting
        self.candidates, self.members = candidates, members

    def __call__(
        self, values: dict[str, str], refs: list[str], errors: list[str], invitees: list[str]
    ) -> Response:
        plan = self.visit.plan
        meeting = self.meeting
        action = f"/plans/{plan.id}/meetings/" + (
            "new" if meeting is None else f"{meeting.id}/edit"
        )
        context = {
            "plan": plan,
            "editing": meeting is not None,
            "action": action,
            "values": values,
            "candidates": self.candidates,
            "refs": refs,
            "members": self.members,
            "invitees": invitees,
            "errors": errors,
        }
        status = 400 if errors else 200
        return render(
            self.request, "meeting_new.html", context, status_code=status, user=self.visit.user
        )


async def cancel_meeting(request: Request) -> Response:
    """The koordinator cancels a meeting: it stays listed (marked Avlyst), leaves Mine planer,
    and its .ics says STATUS:CANCELLED. The minutes zone is kept."""
    visit = await visit_of(request)
    meeting = await visit.services.meetings.get(visit.plan.id, request.path_params["meeting_id"])
    if meeting is None:
        raise NotFound()
    if visit.closed:
        raise PlanClosed()
    form = await request.form()
    if not csrf_valid(request, visit.services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("form.expired")
    if visit.member.role != Role.KOORDINATOR:
        raise Forbidden("meetings.error.not_koordinator")
    if await visit.services.meetings.cancel(meeting.id):
        visit.audit(request, "meeting_cancel", details={"meeting_id": meeting.id})
        gone = await visit.services.meetings.get(visit.plan.id, meeting.id)
        await visit.services.meeting_notices.cancelled(gone or meeting, visit.user.id)
    return RedirectResponse(f"/plans/{visit.plan.id}#plan-meetings", status_code=303)


# --- .ics ----------------------------------------------------------------------------------


async def meeting_calendar(request: Request) -> Response:
    visit = await visit_of(request)
    meeting = await visit.services.meetings.get(visit.plan.id, request.path_params["meeting_id"])
    if meeting is None:
        raise NotFound()
    if not m.may_download_ics(visit.member, visit.user.id, meeting):
        raise Forbidden("meetings.error.not_invited")
    # Links and the UID from SAMPLAN_PUBLIC_URL, never the Host header (see meeting_ics).
    settings = visit.services.settings
    url = settings.public_link(f"/plans/{visit.plan.id}/meetings/{meeting.id}")
    body = meeting_ics(meeting, url, settings.public_host(), datetime.now(UTC))
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="samplan-mote-{meeting.id}.ics"',
            "cache-control": "no-store",
        },
    )


# --- the minutes page ----------------------------------------------------------------------


async def minutes_page(
    request: Request, *, error: str | None = None, status_code: int = 200
) -> Response:
    visit = await visit_of(request)
    services, plan, member, user = visit.services, visit.plan, visit.member, visit.user
    today = today_oslo()
    meeting = await services.meetings.get(plan.id, request.path_params["meeting_id"])
    access = visit.access("minutes", meeting.id) if meeting else None
    if meeting is None or meeting.zone_id is None or access is None:
        raise NotFound()
    members = await _members(visit)
    for x in members:
        x |= {"initials": initials(x["name"]), "color": colour_for(x["id"])}
    areas = await m.plan_areas(services, plan.id, member, today)
    me = identity_of(user.id, user.name, member.role)
    app_data = {
        "planId": plan.id,
        "meetingId": meeting.id,
        "lang": language_of(request),
        "me": me,
        "zone": {
            "room": f"plan/{plan.id}/{zone_name(MINUTES, meeting.id)}",
            "kind": MINUTES,
            "key": meeting.id,
            "title": meeting.title,
            "access": access,
        },
        "members": members,
        "areas": [
            {
                "key": a.key,
                "title": a.title,
                "goals": [{k: g[k] for k in ("id", "label", "title")} for g in a.goals],
                "writable": visit.access("area", a.key) == "rw",
            }
            for a in areas
        ],
        "csrfToken": csrf_token(request, services.secret_key),
        "converted": request.query_params.get("converted"),
    }
    visit.audit(request, "minutes_view", zone=zone_name(MINUTES, meeting.id))
    context = {
        "plan": plan,
        "meeting": m.meeting_view(
            meeting, minutes=True, ics=m.may_download_ics(member, user.id, meeting)
        ),
        "me": me,
        "writable": access == "rw",
        "error": error,
        "app_data": json.dumps(app_data, ensure_ascii=False),
        "published": published_links(
            await services.repos.versions.list_published(plan.id, meeting.id)
        ),
        "may_publish": member.role == Role.KOORDINATOR,
        "notes": {
            "csrf": app_data["csrfToken"],
            "may_propose": member.role == Role.KOORDINATOR
            and not visit.closed
            and not meeting.cancelled
            and meeting.starts_at > datetime.now(UTC),
        },
    }
    return render(request, "minutes.html", context, status_code=status_code, user=user)


# --- action item -> measure ----------------------------------------------------------------


async def action_to_measure(request: Request) -> Response:
    visit = await visit_of(request)
    services, plan = visit.services, visit.plan
    today = today_oslo()
    meeting_id = request.path_params["meeting_id"]
    item_id = request.path_params["item_id"]
    meeting = await services.meetings.get(plan.id, meeting_id)
    access = visit.access("minutes", meeting_id) if meeting else None
    if meeting is None or meeting.zone_id is None or access is None:
        raise NotFound()
    if visit.closed:
        raise PlanClosed()

    async def fail(key: str, status: int) -> Response:
        return await minutes_page(request, error=key, status_code=status)

    form = await request.form()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        return await fail("form.expired", 403)
    if access != "rw":
        return await fail("minutes.error.read_only", 403)
    async with _locks.of(meeting.id):
        try:
            measure_id, area_key = await _convert(visit, meeting, item_id, today)
        except ConversionError as exc:
            return await fail(exc.key, exc.status)
        except RoomWriteFailed:
            log.error("action item conversion failed meeting_id=%s", meeting.id)
            return await fail("error.generic", 503)
    visit.audit(
        request,
        "measure_from_minutes",
        zone=zone_name(AREA, area_key),
        details={"meeting_id": meeting.id, "action_item_id": item_id, "measure_id": measure_id},
    )
    return RedirectResponse(
        f"/plans/{plan.id}/meetings/{meeting.id}?converted={item_id}#action-{item_id}",
        status_code=303,
    )


async def _convert(
    visit: PlanVisit, meeting: MeetingRecord, item_id: str, today: Any
) -> tuple[str, str]:
    services, plan = visit.services, visit.plan
    registry = services.registry
    assert meeting.zone_id is not None
    item = await registry.edit(
        meeting.zone_id,
        lambda doc: read_action_item(doc, item_id),
        "minutes",
        actor=visit.user.id,
    )
    members = {str(ms.user_id) for ms in await services.plans.list_members(plan.id)}
    item = check_item(item, members, today)
    assert item.area_key is not None
    area = await services.plans.get_zone(plan.id, "area", item.area_key)
    if area is None:
        raise ConversionError("minutes.error.goal")
    if visit.access("area", area.key) != "rw":
        raise ConversionError("minutes.error.area_forbidden", 403)
    date_text = m.oslo(meeting.starts_at).strftime("%d.%m.%Y")
    measure_id: str = await registry.edit(
        area.id,
        add_measure(item, meeting.id, date_text),
        "area",
        actor=visit.user.id,
    )
    await registry.edit(
        meeting.zone_id, link_measure(item_id, measure_id), "minutes", actor=visit.user.id
    )
    return measure_id, area.key
