"""Published minutes: the koordinator freezes a meeting's minutes as an immutable,
content-hashed version; every member's open plan page shows it at once; the planeier (or
verge) approves it. DESIGN §2-3. A correction is a new version; old ones stay readable.

The hash is sha256 over the canonical JSON (crdt/versions.py) that `.../published/{n}.json`
serves byte for byte, so anyone can verify a version with one command. So the user ids inside
it are those of the database it was published in; the page names people as
server/core/minutes_people.py says (the minutes' own names, else the person's id here, looked up
among all users: a former member is still named).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crdt.schema import MINUTES, zone_name
from crdt.versions import canonical_json, content_hash, is_empty_minutes, minutes_content
from server.core.access import APPROVE_ROLES, PUBLISH_ROLES
from server.core.clock import OSLO
from server.core.minutes_people import names_for, parse_content, wanted_user_ids
from server.core.repositories import Repositories
from server.core.seals import approval_record, publication_record
from server.core.zones import zone_copies
from server.web.errors import BadRequest, Conflict, Forbidden, NotFound, PlanClosed
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.templating import render
from server.web.visit import PlanVisit, visit
from storage import errors as storage_errors
from storage.repositories.versions import MinutesRecord

log = logging.getLogger("samplan.published")


def when(moment: datetime | None) -> str:
    """'12.03.2026 kl. 14.05', Oslo time, as Norwegian minutes write it."""
    if moment is None:
        return ""
    return moment.astimezone(OSLO).strftime("%d.%m.%Y kl. %H.%M")


def _form_ok(request: Request, v: PlanVisit, form: Any) -> bool:
    return csrf_valid(request, v.services.secret_key, form.get(CSRF_FIELD))


def _url(plan_id: str, meeting_id: str, number: int) -> str:
    return f"/plans/{plan_id}/meetings/{meeting_id}/published/{number}"


def published_links(records: list[MinutesRecord]) -> list[dict[str, Any]]:
    """The published versions of one meeting as the minutes page lists them (newest first)."""
    return [
        {
            "number": r.number,
            "url": _url(r.plan_id, r.meeting_id, r.number),
            "published_at": when(r.published_at),
            "approved_role": r.approved_role if r.approved_at else None,
        }
        for r in records
    ]


# --- publish -----------------------------------------------------------------------------


async def publish_minutes(request: Request) -> Response:
    """POST: koordinator only. Freezes the minutes zone as version n+1 (refused when it is
    unchanged since version n), stores a 'published' plan version, audits, pushes live."""
    v = await visit(request)
    services = v.services
    meeting_id = request.path_params["meeting_id"]
    form = await request.form()
    if not _form_ok(request, v, form):
        raise Forbidden("error.expired_form")
    if v.role not in PUBLISH_ROLES:
        raise Forbidden("published.error.not_koordinator")
    if v.closed:
        raise PlanClosed()
    zone = await services.plans.get_zone(v.plan.id, "minutes", meeting_id)
    if zone is None:
        raise NotFound("published.error.no_minutes")
    content = minutes_content(await services.registry.read(zone.id))
    if is_empty_minutes(content):
        raise BadRequest("published.error.empty")
    meeting = await services.meetings.get(v.plan.id, meeting_id)
    content["title"] = meeting.title if meeting else zone.title
    content["startsAt"] = meeting.starts_at.isoformat() if meeting else None
    canonical = canonical_json(content)
    digest = content_hash(canonical)
    title: str = content["title"]

    def seal(number: int, published_at: datetime) -> str:
        return publication_record(
            v.plan.id, meeting_id, number, title, digest, v.user.email, published_at
        )

    try:
        record = await services.repos.versions.publish_minutes(
            v.plan.id,
            meeting_id,
            content["title"],
            canonical,
            digest,
            v.user.id,
            await zone_copies(services.registry, services.plans, v.plan.id),
            seal,
        )
    except storage_errors.Conflict:
        raise Conflict("published.error.unchanged") from None
    v.audit(
        request,
        "minutes_publish",
        zone=zone_name(MINUTES, meeting_id),
        details={"meeting_id": meeting_id, "number": record.number, "sha256": digest},
    )
    member_ids = [m.user_id for m in await services.plans.list_members(v.plan.id)]
    delivered = services.events.publish(
        member_ids,
        {
            "type": "minutes_published",
            "planId": v.plan.id,
            "meetingId": meeting_id,
            "version": record.number,
        },
    )
    log.info(
        "minutes published plan_id=%s meeting_id=%s number=%s pages=%d",
        v.plan.id,
        meeting_id,
        record.number,
        delivered,
    )
    try:  # the minutes are published either way; a lost notification is logged, not fatal
        await services.notifier.minutes_published(v.plan.id, meeting_id, record.number)
    except Exception as exc:
        log.error(
            "plan %s: minutes notifications failed: %s",
            v.plan.id,
            type(exc).__name__,
            exc_info=exc,
        )
    return RedirectResponse(_url(v.plan.id, meeting_id, record.number), status_code=303)


# --- read --------------------------------------------------------------------------------


async def _readable(request: Request) -> tuple[PlanVisit, MinutesRecord, list[MinutesRecord]]:
    """The requested published version and all versions of its meeting, if the member may
    read that meeting's minutes (role and consent); raises the same 404 otherwise."""
    v = await visit(request)
    meeting_id = request.path_params["meeting_id"]
    if v.access("minutes", meeting_id) is None:
        raise NotFound()
    all_versions = await v.services.repos.versions.list_published(v.plan.id, meeting_id)
    if not all_versions:
        raise NotFound("published.error.none")
    number = request.path_params.get("number")
    record = (
        all_versions[0]
        if number is None
        else next((r for r in all_versions if r.number == number), None)
    )
    if record is None:
        raise NotFound()
    return v, record, all_versions


async def published_page(request: Request) -> Response:
    """GET .../minutes (newest) or .../published/{n}: one published version, read-only."""
    v, record, all_versions = await _readable(request)
    content = json.loads(record.content)
    v.audit(
        request,
        "minutes_view",
        zone=zone_name(MINUTES, record.meeting_id),
        details={"meeting_id": record.meeting_id, "number": record.number},
    )
    context = {
        "plan": v.plan,
        "record": _row(record),
        "content": content,
        "names": await minutes_names(v.services.repos, record),
        "versions": [_row(r) for r in all_versions],
        "latest": all_versions[0].number,
        "may_approve": v.role in APPROVE_ROLES and record.approved_at is None,
        "may_publish": v.role in PUBLISH_ROLES,
        "meeting": {"id": record.meeting_id, "title": record.title},
    }
    return render(request, "published_minutes.html", context, user=v.user)


async def minutes_names(repos: Repositories, record: MinutesRecord) -> dict[str, str]:
    """{user id inside the version's content: name}, for the people it mentions."""
    content = parse_content(record.content)
    mapping = record.content_user_ids
    people = await repos.users.names(wanted_user_ids(content, mapping))
    return names_for(content, mapping, people)


async def minutes_json(request: Request) -> Response:
    """GET .../published/{n}.json: the canonical JSON exactly as hashed (verify with
    `sha256sum`); the hash travels in a header, never inside what it covers."""
    _, record, _ = await _readable(request)
    return Response(
        record.content.encode("utf-8"),
        media_type="application/json; charset=utf-8",
        headers={"x-content-sha256": record.sha256, "cache-control": "no-store"},
    )


async def approve_minutes(request: Request) -> Response:
    """POST .../published/{n}/approve: the planeier or verge marks a version approved."""
    v = await visit(request)
    meeting_id = request.path_params["meeting_id"]
    number = request.path_params["number"]
    form = await request.form()
    if not _form_ok(request, v, form):
        raise Forbidden("error.expired_form")
    if v.access("minutes", meeting_id) is None:
        raise NotFound()
    if v.role not in APPROVE_ROLES:
        raise Forbidden("published.error.not_owner")
    if v.closed:
        raise PlanClosed()
    email = v.user.email

    def seal(published: MinutesRecord, approved_at: datetime) -> str:
        return approval_record(
            published.publication_sha256, published.sha256, email, v.role, approved_at
        )

    try:
        record = await v.services.repos.versions.approve_minutes(
            v.plan.id, meeting_id, number, v.user.id, v.role, seal
        )
    except storage_errors.NotFound:
        raise NotFound() from None
    except storage_errors.Conflict:
        raise Conflict("published.error.approved_already") from None
    v.audit(
        request,
        "minutes_approve",
        zone=zone_name(MINUTES, meeting_id),
        details={"meeting_id": meeting_id, "number": number, "sha256": record.sha256},
    )
    member_ids = [m.user_id for m in await v.services.plans.list_members(v.plan.id)]
    v.services.events.publish(
        member_ids,
        {
            "type": "minutes_approved",
            "planId": v.plan.id,
            "meetingId": meeting_id,
            "version": number,
        },
    )
    return RedirectResponse(_url(v.plan.id, meeting_id, number), status_code=303)


# --- the plan page's "Publiserte referater" ----------------------------------------------


def _row(record: MinutesRecord) -> dict[str, Any]:
    return {
        "meeting_id": record.meeting_id,
        "number": record.number,
        "title": record.title,
        "sha256": record.sha256,
        "published_by": record.published_by_name,
        "published_at": when(record.published_at),
        "approved": record.approved_at is not None,
        "approved_by": record.approved_by_name,
        "approved_role": record.approved_role,
        "approved_at": when(record.approved_at),
        "url": _url(record.plan_id, record.meeting_id, record.number),
        "published_here": record.published_here,
        "publication_sha256": record.publication_sha256,
        "approval_sha256": record.approval_sha256,
    }


async def published_section(v: PlanVisit) -> dict[str, Any]:
    """Newest published version of each meeting the member may read, plus (for the
    koordinator) the meetings whose minutes can be published from here."""
    rows: dict[str, dict[str, Any]] = {}
    for record in await v.services.repos.versions.list_published(v.plan.id):
        if record.meeting_id in rows or v.access("minutes", record.meeting_id) is None:
            continue
        rows[record.meeting_id] = _row(record)
    meetings = {m.id: m for m in await v.services.meetings.list_for_plan(v.plan.id)}
    for meeting_id, row in rows.items():
        meeting = meetings.get(meeting_id)
        row["date"] = meeting.starts_at.astimezone(OSLO).strftime("%d.%m.%Y") if meeting else ""
    publishable = []
    if v.role in PUBLISH_ROLES:
        for zone in await v.services.plans.list_zones(v.plan.id):
            if zone.kind == "minutes":
                meeting = meetings.get(zone.key)
                publishable.append(
                    {
                        "id": zone.key,
                        "title": meeting.title if meeting else zone.title,
                        "published": rows.get(zone.key, {}).get("number", 0),
                    }
                )
    return {"rows": list(rows.values()), "publishable": publishable}


async def published_fragment(request: Request) -> Response:
    """GET /plans/{plan_id}/published-minutes: the section's inner HTML, for the plan
    page to refresh itself when a `minutes_published` event arrives."""
    v = await visit(request)
    context = {"plan": v.plan, "published": await published_section(v)}
    return render(request, "_published_list.html", context, user=v.user)
