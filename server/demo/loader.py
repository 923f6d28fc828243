"""`samplan demo`: load the fictional plan of server/demo/content.py, idempotently.

Run twice, it finds the plan by its demo key and only prints the details again; users
that already exist (by e-mail) are reused, so it never duplicates anything.

Each area is stored as the server stores an imported zone: its state as the snapshot and its
made-up history (`demo.area_history`) as the author records, so "Sist endret av" and an
item's history name the demo's people at the demo's times. The other zones are logged as one
update each, by the koordinator who wrote them (the comments zone: by the server).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from pycrdt import Doc

from crdt.authorship import trace_updates
from crdt.schema import AREA, COMMENTS, MINUTES, zone_name
from crdt.summary import zone_summary
from server.core.access import needs_consent
from server.core.clock import OSLO, today_oslo
from server.core.passwords import hash_password
from server.core.repositories import Repositories
from server.core.tokens import issue_plan_token
from server.demo import content as demo
from server.settings import Settings
from storage.repositories.meetings import AgendaItem, AgendaRef
from storage.repositories.updates import ChangeRow


@dataclass(frozen=True)
class DemoResult:
    plan_id: str
    created: bool
    users: list[tuple[str, str, str, int]]  # (name, email, role, user id)


async def load_demo(repos: Repositories) -> DemoResult:
    birth_date = date.fromisoformat(demo.PLAN["person_birth_date"])
    existing = await repos.plans.get_plan_by_demo_key(demo.DEMO_KEY)
    if existing is not None:
        if not await repos.consents.latest_by_user(existing.id):  # loaded before consents
            await _demo_consent(repos, existing.id)
        await _demo_meeting_details(repos, existing.id)
        if existing.person_birth_date is None:  # loaded before birth dates
            await repos.plans.set_person_birth_date(existing.id, birth_date)
        return DemoResult(existing.id, False, await _demo_users(repos))

    password_hash = hash_password(demo.DEMO_PASSWORD)
    user_ids: dict[str, int] = {}
    for member in demo.MEMBERS:
        user = await repos.users.get_by_email(member.email)
        if user is None:
            user = await repos.users.create(member.email, member.name, password_hash)
        user_ids[member.email] = user.id

    municipality = await repos.plans.get_or_create_municipality(demo.PLAN["municipality"])
    plan = await repos.plans.create_plan(
        municipality,
        demo.PLAN["title"],
        demo.PLAN["person_name"],
        demo_key=demo.DEMO_KEY,
        person_birth_date=birth_date,
    )
    for area in demo.AREAS:
        await repos.plans.add_zone(plan.id, "area", area.id, area.title, area.position)
    for member in demo.MEMBERS:
        await repos.plans.add_member(
            plan.id,
            user_ids[member.email],
            member.role,
            unit=member.unit,
            contribution=member.contribution,
        )
    # After the members: a meeting's invitees must be members. Scheduling creates the
    # meeting's minutes zone too; the agenda follows in _demo_meeting_details.
    for meeting in demo.MEETINGS:
        await repos.meetings.schedule(
            plan.id,
            meeting_id=meeting.id,
            title=meeting.title,
            starts_at=meeting.starts_at,
            ends_at=meeting.ends_at,
            place=meeting.place,
            video_link=None,
            agenda=(),
            invitee_ids=[user_ids[email] for email in demo.MEETING_INVITEES],
            created_by_user_id=None,
        )
    history = demo.area_history(user_ids)
    writer = user_ids[demo.PLAN["coordinator_email"]]
    items = []
    authors: list[int | None] = []
    for (kind, key), update in demo.build_zone_docs(user_ids).items():
        zone = await repos.plans.get_zone(plan.id, kind, key)
        if zone is None:
            raise RuntimeError(f"demo zone {zone_name(kind, key)} was not created")
        if kind == AREA:
            await _store_history(repos, zone.id, update, history[key])
        else:
            items.append((zone.id, update))
            authors.append(None if kind == COMMENTS else writer)
        doc: Doc[Any] = Doc()
        doc.apply_update(update)
        await repos.plans.save_zone_summary(zone.id, zone_summary(doc, kind))
    await repos.zone_log.append_batch(items, authors)
    await _demo_consent(repos, plan.id)
    await _demo_meeting_details(repos, plan.id)
    return DemoResult(plan.id, True, await _demo_users(repos))


async def _store_history(
    repos: Repositories,
    zone_id: int,
    state: bytes,
    history: list[tuple[int, datetime, bytes]],
) -> None:
    """The area's records (who, when, what each change touched), then its state as the
    snapshot: as an import stores a zone with its records."""
    traces = trace_updates(AREA, None, [(n, update) for n, (_, _, update) in enumerate(history)])
    records = [
        ChangeRow(None, user_id, at, traces.get(n), None)
        for n, (user_id, at, _) in enumerate(history)
    ]
    await repos.zone_log.add_changes(zone_id, records, snapshot=state)


async def _demo_meeting_details(repos: Repositories, plan_id: str) -> None:
    """The demo meeting's invitees and agenda in SQL; filled only where missing, so a plan
    loaded before meetings had them gets them and a second run changes nothing."""
    meeting = await repos.meetings.get(plan_id, demo.MEETING_ID)
    if meeting is None:
        return
    if not meeting.invitee_ids:
        ids = []
        for email in demo.MEETING_INVITEES:
            user = await repos.users.get_by_email(email)
            if user is not None:
                ids.append(user.id)
        await repos.meetings.set_invitees(meeting.id, ids)
    if not meeting.agenda:
        agenda = [
            AgendaItem(f"sak-{n}", f"Sak {n} – {title}", AgendaRef(*ref) if ref else None)
            for n, title, ref in demo.MEETING_AGENDA
        ]
        await repos.meetings.set_details(meeting.id, agenda=agenda)


async def _demo_consent(repos: Repositories, plan_id: str) -> None:
    """Jonas's consent (demo_content.CONSENT): the members listed see only their zones, every
    other deltaker and leser the whole plan. An end date already past is left out (until
    revoked), so the demo keeps working for every user."""
    consent = demo.CONSENT
    giver = await repos.users.get_by_email(consent["given_by"])
    until: date | None = date.fromisoformat(consent["valid_until"])
    if until is not None and until < today_oslo():
        until = None
    given_at = datetime.combine(date.fromisoformat(consent["given_on"]), time(12), tzinfo=OSLO)
    for member in demo.MEMBERS:
        if not needs_consent(member.role):
            continue
        user = await repos.users.get_by_email(member.email)
        if user is None:
            continue
        zones = consent["zones_by_email"].get(member.email)
        scope: list[str] | str = list(zones) if zones else "all"
        await repos.consents.give(
            plan_id, user.id, scope, until, giver.id if giver else None, given_at=given_at
        )


async def _demo_users(repos: Repositories) -> list[tuple[str, str, str, int]]:
    users = []
    for member in demo.MEMBERS:
        user = await repos.users.get_by_email(member.email)
        if user is not None:
            users.append((member.name, member.email, member.role, user.id))
    return users


def describe_demo(result: DemoResult, secret: str, ttl: int, settings: Settings) -> str:
    state = "lastet inn" if result.created else "fantes allerede"
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        f"Demoplanen ({demo.PLAN['title']}) {state}.",
        f"Plan-id: {result.plan_id}",
        f"Åpne: {base}/  (passord for alle demobrukere: {demo.DEMO_PASSWORD})",
        "",
        f"{'Rolle':<12} {'Navn':<20} {'E-post':<38} Token ({ttl // 3600} t)",
    ]
    seen_roles: set[str] = set()
    for name, email, role, user_id in result.users:
        first = role not in seen_roles
        seen_roles.add(role)
        token = issue_plan_token(secret, user_id, result.plan_id, ttl) if first else "-"
        lines.append(f"{role:<12} {name:<20} {email:<38} {token}")
    lines += [
        "",
        f"Rom: plan/{result.plan_id}/content, .../comments, "
        + ", ".join(f".../{zone_name(AREA, a.id)}" for a in demo.AREAS)
        + ", "
        + ", ".join(f".../{zone_name(MINUTES, m.id)}" for m in demo.MEETINGS),
    ]
    return "\n".join(lines)
