"""The HTML pages: "Mine planer" and the plan page. Membership is checked on every request:
a user who changes an id in the URL gets the same 404 as for a plan that does not exist."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crdt.schema import COMMENTS, ZONE_ORDER, zone_name
from server.core.access import (
    ASSIGNABLE_ROLES,
    ConsentRule,
    Role,
    can_export,
    consent_rule,
    effective_access,
    may_edit_contribution,
    may_give_consent,
    may_manage_members,
    may_see_access_log,
    needs_consent,
    sees_member_details,
    sees_plan,
)
from server.core.clock import OSLO, today_oslo
from server.core.identity import colour_for, identity_of, initials
from server.plans.min_plan import may_open_min_plan
from server.plans.overview import member_indicators
from server.plans.start_pages import areas_section, start_consent_section
from server.services import Services
from server.web.errors import LoginRequired
from server.web.i18n import language_of
from server.web.sections import plan_sections
from server.web.security import csrf_token
from server.web.session import current_user
from server.web.templating import render
from server.web.visit import visit
from storage.repositories.consents import MemberAccess


async def home(request: Request) -> Response:
    """Where one lands after log-in: the planeier or verge with exactly one plan, open to
    them, lands on its Min plan (issue 13); everyone else on Mine planer."""
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    services: Services = request.app.state.services
    overview = await services.plans.overview_for_user(user.id)
    if len(overview) == 1 and may_open_min_plan(overview[0][1]):
        plan_id = overview[0][0].id
        if sees_plan(await services.consents.member_access(plan_id, user.id), today_oslo()):
            return RedirectResponse(f"/plans/{plan_id}/min", status_code=303)
    return RedirectResponse("/plans", status_code=303)


async def my_plans(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        raise LoginRequired()
    services: Services = request.app.state.services
    present = services.connections.present_by_plan()
    today = today_oslo()
    # Every figure below comes only from what this member may open (role and consent): the
    # zone summaries are filtered by Summaries.for_user; a plan the member may not open yet
    # (no consent) shows no meeting, no one present and no unread messages.
    access = await services.consents.access_by_plan(user.id)
    overview = await services.plans.overview_for_user(user.id)
    # The effective-plan indicators by the KE overview's rules (server/core/indicators.py),
    # every zone figure from the zones this member may open.
    shown = await member_indicators(services, user.id, [p for p, _, _ in overview], access, today)
    next_meetings = await services.meetings.next_by_plan(
        user.id, datetime.now(UTC), see_all_roles=(Role.PLANEIER, Role.VERGE, Role.KOORDINATOR)
    )
    unread = await services.repos.notifications.unread_by_plan(user.id, "message")
    plans = []
    for plan, role, koordinator in overview:
        mine = access.get(plan.id)
        opens = sees_plan(mine, today)
        if plan.draft and needs_consent(role):
            continue  # a draft is the koordinator's, planeier's and verge's alone
        if plan.id not in shown:
            continue  # deleted since the list was read
        facts, ind = shown[plan.id]
        plans.append(
            {
                "id": plan.id,
                "title": plan.title,
                "person_name": plan.person_name,
                "role": role,
                "access_log": may_see_access_log(role),
                "min_plan": may_open_min_plan(role) and opens,
                "koordinator_name": koordinator,
                # the consent to the plan being made (its newest answer), and how many
                # members the planeier has given consent to see the plan: two facts, each
                # named for what it is (the old "Samtykke: gitt" meant the second)
                "plan_consent": facts.plan_consent,
                "sharing_consents": facts.sharing_consents,
                "in_use": ind.in_use if opens else None,
                "evaluated": ind.evaluated if opens else None,
                "next_revision": _ddmmyyyy(ind.next_revision),
                "revision_overdue": ind.revision_overdue,
                "overdue_measures": ind.overdue_measures,
                "last_evaluation": _ddmmyyyy(ind.last_evaluation),
                "present_now": present.get(plan.id, []) if opens else [],
                # unread messages (their notifications), while the member may read the thread
                "unread": unread.get(plan.id, 0) if _reads(mine, COMMENTS, today) else 0,
                "next_meeting": _next_meeting(next_meetings.get(plan.id), role) if opens else None,
                "closed": plan.status == "closed",
                "draft": plan.draft,
            }
        )
    # What the page was sent back to say: a plan deleted, started for a colleague, or joined
    # by invitation (the plan shows here once the planeier consents).
    done = next(
        (k for k in ("deleted", "started", "joined") if request.query_params.get(k) == "1"), None
    )
    may_start = await services.repos.plan_start.may_start_plans(user.id)
    context = {"plans": plans, "done": done, "may_start": may_start}
    return render(request, "plans.html", context, user=user)


async def plan_page(request: Request) -> Response:
    v = await visit(request)
    services, user, plan, member, today = v.services, v.user, v.plan, v.member, v.today
    # This page load's id: its sockets send it back, so the access log shows one visit per
    # page load rather than one per zone (server.sync.endpoint,
    # storage.repositories.access_history).
    visit_id = secrets.token_hex(16)
    v.audit(request, "plan_view", details={"visit": visit_id})
    zones = []
    all_zones = sorted(
        await services.plans.list_zones(plan.id), key=lambda z: (ZONE_ORDER[z.kind], z.position)
    )
    for zone in all_zones:
        if zone.retired_at is not None:
            continue  # a retired life area: kept for history, export and print, not edited
        suffix = zone_name(zone.kind, zone.key)
        access = effective_access(
            member.role, zone.kind, suffix, member.consent, today, closed=plan.status == "closed"
        )
        if access is not None:
            room = f"plan/{plan.id}/{suffix}"
            zones.append(
                {
                    "room": room,
                    "kind": zone.kind,
                    "key": zone.key,
                    "title": zone.title,
                    "hint": zone.hint or "",
                    "access": access,
                }
            )
    # Names and roles for everyone; e-mail, unit and contribution only for those who may
    # read `content` (server.core.access.sees_member_details), and one's own always.
    details = sees_member_details(member.role, member.consent, today)
    member_rows = await services.plans.list_members_with_names(plan.id)
    writers = await _writer_names(services, member_rows)
    members = [
        {
            "id": m.user_id,
            "name": name,
            "role": m.role,
            "initials": initials(name),
            "color": colour_for(m.user_id),
            **(
                {
                    "unit": m.unit,
                    "contribution": m.contribution,
                    "email": email,
                    # who last wrote the contribution, as the server recorded it
                    "contribution_by": writers.get(m.contribution_updated_by or 0),
                    "contribution_at": _ddmmyyyy_hhmm(m.contribution_updated_at),
                }
                if details or m.user_id == user.id
                else {
                    "unit": None,
                    "contribution": None,
                    "email": None,
                    "contribution_by": None,
                    "contribution_at": None,
                }
            ),
        }
        for m, name, email in member_rows
    ]
    me = identity_of(user.id, user.name, member.role)
    app_data = {
        "planId": plan.id,
        "lang": language_of(request),
        "me": me,
        "zones": zones,
        "members": members,
        "ownDevice": request.cookies.get("samplan_own_device") == "1",
        # For the Meldinger section's "read" POST (the token, not a secret of the page).
        "csrf": csrf_token(request, services.secret_key),
        # Comments and messages are written by the server (server/plans/comments.py): the
        # comments socket is read-only, and this says whether the page offers to write.
        "mayComment": effective_access(
            member.role,
            COMMENTS,
            COMMENTS,
            member.consent,
            today,
            closed=plan.status == "closed",
            by_server=True,
        )
        == "rw",
        "unreadMessages": (
            await services.repos.notifications.unread_by_plan(user.id, "message")
        ).get(plan.id, 0)
        if v.access(COMMENTS, "") is not None
        else 0,
        "visit": visit_id,
    }
    context = {
        "plan": {
            "id": plan.id,
            "title": plan.title,
            "person_name": plan.person_name,
            "status": plan.status,
            "draft": plan.draft,
            "closed_on": _ddmmyyyy(plan.closed_at),
        },
        "areas": await areas_section(v),
        "start_consent": await start_consent_section(v),
        "me": me,
        "may_export": can_export(member.role),
        "access_log": may_see_access_log(member.role),
        "members": members,
        "app_data": json.dumps(app_data, ensure_ascii=False),
        "consent": await consent_section(
            services, plan.id, member.role, members, all_zones, plan.person_birth_date, user.id
        ),
        "may_close_and_delete": member.role == Role.KOORDINATOR,
        # Whose account this koordinator may deactivate: those only in plans they coordinate.
        "deactivatable": await services.repos.accounts.coordinated_entirely_by(
            user.id, [m.user_id for m, _, _ in member_rows]
        )
        if member.role == Role.KOORDINATOR
        else set(),
        "member_admin": _member_admin(member.role, user.id, members, plan.status == "closed"),
        **await plan_sections(request, v),
    }
    return render(request, "plan.html", context, user=user)


async def consent_section(
    services: Services,
    plan_id: str,
    my_role: str,
    members: list[dict[str, Any]],
    zones: list[Any],
    birth_date: date | None = None,
    viewer_id: int | None = None,
) -> dict[str, Any]:
    """The Samtykke section: per deltaker/leser member (and pending invitation of one) the
    current consent, and whether this user may change it (the planeier and verge, as the
    person's age allows: server.core.access.may_give_consent), with the sentence that says who
    gives consent and why.
    A viewer who needs consent (deltaker, leser) sees only their own record: another's scope
    names areas the viewer may not be allowed to see, and consent is not theirs to run."""
    titles = {zone_name(z.kind, z.key): z.title for z in zones}
    choices = [{"value": suffix, "title": title} for suffix, title in titles.items()]
    latest = await services.consents.latest_by_user(plan_id)
    today = today_oslo()
    rows = []
    for m in members:
        if not needs_consent(m["role"]):
            continue
        if needs_consent(my_role) and m["id"] != viewer_id:
            continue
        found = latest.get(m["id"])
        record, given_by = found if found else (None, None)
        if record is None:
            state = "none"
        elif record.revoked_at is not None:
            state = "revoked"
        elif record.status == "refused":
            state = "refused"
        else:
            state = "given" if record.active_on(today) else "expired"
        scope = None
        if record is not None and record.status == "given":
            scope = (
                None
                if record.scope is None
                else [titles.get(suffix, suffix) for suffix in record.scope]
            )
        rows.append(
            {
                "member": m,
                "state": state,
                "all": record is not None and record.status == "given" and record.scope is None,
                "scope": scope or [],
                "selected": list(record.scope or titles) if record else [],
                "until": _ddmmyyyy(record.valid_until) if record else None,
                "given_by": given_by,
                "given_at": _ddmmyyyy(record.given_at) if record else None,
                "revoked_at": _ddmmyyyy(record.revoked_at) if record else None,
            }
        )
    if not needs_consent(my_role):
        rows += await _invitee_rows(services, plan_id, titles)
    rule = consent_rule(birth_date, today)
    may_edit = may_give_consent(my_role, birth_date, today)
    # The planeier below 16 sees the record read-only, and is told why.
    read_only_why = my_role == Role.PLANEIER and rule == ConsentRule.UNDER_16
    return {
        "may_edit": may_edit,
        "rows": rows,
        "zones": choices,
        "rule": rule.value,
        "read_only_why": read_only_why,
    }


async def _invitee_rows(
    services: Services, plan_id: str, titles: dict[str, str]
) -> list[dict[str, Any]]:
    """Pending invitations of a deltaker or leser, so consent can be given before they join
    (it becomes theirs when they accept: storage InvitationRepo.accept)."""
    invitations = services.repos.invitations
    given = await invitations.consents(plan_id)
    rows = []
    for invitation in await invitations.pending(plan_id):
        if not needs_consent(invitation.role):
            continue
        record, given_by = given.get(invitation.id, (None, None))
        scope = None
        if record is not None and record.status == "given" and record.scope is not None:
            scope = [titles.get(suffix, suffix) for suffix in record.scope]
        rows.append(
            {
                "member": {"id": None, "name": invitation.name, "role": invitation.role},
                "invitation_id": invitation.id,
                "state": "none" if record is None else record.status,
                "all": record is not None and record.status == "given" and record.scope is None,
                "scope": scope or [],
                "selected": list(record.scope or titles) if record else [],
                "until": _ddmmyyyy(record.valid_until) if record else None,
                "given_by": given_by,
                "given_at": _ddmmyyyy(record.given_at) if record else None,
                "revoked_at": None,
            }
        )
    return rows


def _member_admin(
    role: str, my_id: int, members: list[dict[str, Any]], closed: bool
) -> dict[str, Any]:
    """What the ansvarsgruppe section offers this user (server/plans/members.py enforces it):
    the koordinator's forms, and one's own contribution."""
    manages = may_manage_members(role) and not closed
    return {
        "manages": manages,
        "edits_own": not closed and may_edit_contribution(role, my_id, my_id),
        "roles": [r.value for r in ASSIGNABLE_ROLES],
        "handover_to": [
            m for m in members if manages and m["role"] in ASSIGNABLE_ROLES and m["id"] != my_id
        ],
    }


async def _writer_names(services: Services, rows: list[Any]) -> dict[int, str]:
    """Names of the people who last wrote a contribution: members, or former members."""
    names = {m.user_id: name for m, name, _ in rows}
    missing = {m.contribution_updated_by for m, _, _ in rows if m.contribution_updated_by} - set(
        names
    )
    if missing:
        names |= await services.repos.users.names(missing)
    return names


def _ddmmyyyy_hhmm(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(OSLO).strftime("%d.%m.%Y %H:%M")


def _reads(member: MemberAccess | None, kind: str, today: date) -> bool:
    """Whether the member may open the plan's zone of this kind (a keyless zone)."""
    if member is None:
        return False
    return effective_access(member.role, kind, kind, member.consent, today) is not None


def _next_meeting(meeting: Any, role: str) -> dict[str, Any] | None:
    if meeting is None:
        return None
    start = meeting.starts_at.astimezone(OSLO)
    return {
        "date": start.strftime("%d.%m.%Y"),
        "start": start.strftime("%H:%M"),
        "title": meeting.title,
        "url": f"/plans/{meeting.plan_id}/meetings/{meeting.id}",
    }


def _ddmmyyyy(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "astimezone"):
        value = value.astimezone(OSLO).date()
    return str(value.strftime("%d.%m.%Y"))
