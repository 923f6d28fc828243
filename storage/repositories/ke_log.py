"""The access log across one municipality's plans, for the KE's log control (issue 14;
Normen's Faktaark 15: logs shall be kept *and checked*).

Who opened which plan, when: the access-log rows that open a plan (its page, Min plan, print,
export, minutes, a version, and a socket opened without a page, e.g. with a token), joined to
the plans of the municipality so another municipality's rows never come back. A plan that moved
away from the municipality within this installation (`plan_moves`, kind `internal`) keeps its
rows up to the move here: the sending municipality was the data controller for that period and
its log control is its duty; those rows carry the move record's initials instead of the
person's name (`moved_initials`), and nothing after the move comes back. The receiving
municipality sees the plan's whole log, as the plan is its own. Beside them,
what could explain each opening: the person's membership role, the meetings they are invited
to, the open measures they are responsible for (from the zone summaries, never the text).
The server decides what looks unusual (server/ke/log_review.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, null, or_, select, union
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import (
    Meeting,
    MeetingInvitee,
    Membership,
    Plan,
    PlanMove,
    User,
    Zone,
    ZoneSummary,
    audit_log_table,
)
from storage.repositories.access_history import json_text

OPEN_ACTIONS = ("plan_view", "print", "export", "minutes_view", "version_view", "ws_join")
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Opening:
    id: int
    at: datetime
    action: str
    user_id: int | None
    user_name: str | None
    role: str | None  # the role the row recorded (at the time)
    plan_id: str
    person_name: str | None  # None for a plan that moved away: never its person's name
    moved_initials: str | None = None  # the move record's initials, for a plan that moved away


@dataclass(frozen=True, slots=True)
class Reasons:
    """Per (plan, user): what explains an opening."""

    roles: dict[tuple[str, int], str]
    invited: set[tuple[str, int]]
    responsible: set[tuple[str, int]]


def _opening() -> ColumnElement[bool]:
    """An access-log row that opens a plan. A browser page's sockets carry its visit id and
    the page's own row counts it; a socket opened without a page (a token client) is an
    opening of its own."""
    t = audit_log_table.c
    return or_(
        t.action.in_([a for a in OPEN_ACTIONS if a != "ws_join"]),
        and_(t.action == "ws_join", json_text(t.details, "visit").is_(None)),
    )


async def openings(
    engine: AsyncEngine,
    municipality_id: int,
    *,
    start: datetime,
    end: datetime,
    user_id: int | None = None,
    plan_prefix: str | None = None,
    limit: int,
) -> list[Opening]:
    """The municipality's plan openings in [start, end), oldest first, at most `limit`: of
    its own plans, and of the plans that moved away from it up to the move's time."""
    t = audit_log_table.c
    own = Plan.municipality_id == municipality_id
    # The latest move away from here that the row precedes: the row is of this municipality's
    # period. A plan that came back later is its own again, and all its rows are shown.
    moved_away = (
        select(PlanMove.initials)
        .where(
            PlanMove.plan_id == t.plan_id,
            PlanMove.kind == "internal",
            PlanMove.from_municipality_id == municipality_id,
            t.at <= PlanMove.moved_at,
        )
        .order_by(PlanMove.id.desc())
        .limit(1)
        .correlate(audit_log_table)
        .scalar_subquery()
    )
    opening = _opening()
    stmt = (
        select(t.id, t.at, t.action, t.actor_user_id, User.name, t.role)
        .add_columns(
            t.plan_id,
            case((own, Plan.person_name), else_=None),
            case((own, null()), else_=moved_away),
        )
        .join(Plan, Plan.id == t.plan_id)
        .outerjoin(User, User.id == t.actor_user_id)
        .where(or_(own, moved_away.is_not(None)), opening, t.at >= start, t.at < end)
        .order_by(t.id)
        .limit(limit)
    )
    if user_id is not None:
        stmt = stmt.where(t.actor_user_id == user_id)
    if plan_prefix:  # a whole plan id, or the 8 characters the overview shows
        stmt = stmt.where(t.plan_id.startswith(plan_prefix, autoescape=True))
    async with engine.connect() as conn:
        rows = await conn.execute(stmt)
        return [Opening(*row) for row in rows]


async def reasons(engine: AsyncEngine, plan_ids: Collection[str]) -> Reasons:
    roles: dict[tuple[str, int], str] = {}
    invited: set[tuple[str, int]] = set()
    responsible: set[tuple[str, int]] = set()
    ids = list(dict.fromkeys(plan_ids))
    async with engine.connect() as conn:
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            members = await conn.execute(
                select(Membership.plan_id, Membership.user_id, Membership.role).where(
                    Membership.plan_id.in_(chunk)
                )
            )
            roles.update({(p, u): r for p, u, r in members})
            meetings = await conn.execute(
                select(Meeting.plan_id, MeetingInvitee.user_id)
                .join(MeetingInvitee, MeetingInvitee.meeting_id == Meeting.id)
                .where(Meeting.plan_id.in_(chunk))
            )
            invited.update((p, u) for p, u in meetings)
            areas = await conn.execute(
                select(Zone.plan_id, ZoneSummary.data)
                .join(ZoneSummary, ZoneSummary.zone_id == Zone.id)
                .where(Zone.plan_id.in_(chunk), Zone.kind == "area")
            )
            for plan, data in areas:
                responsible.update((plan, uid) for uid in _responsible(data))
    return Reasons(roles, invited, responsible)


def _responsible(data: str) -> set[int]:
    try:
        summary: Any = json.loads(data)
    except ValueError:
        return set()
    found: set[int] = set()
    for measure in summary.get("openMeasures", ()) if isinstance(summary, dict) else ():
        for person in measure.get("responsible", ()) if isinstance(measure, dict) else ():
            if isinstance(person, str) and person.isdigit():
                found.add(int(person))
    return found


async def people(engine: AsyncEngine, municipality_id: int) -> list[tuple[int, str]]:
    """Everyone who has a role in one of the municipality's plans, and everyone who opened a
    plan that moved away from it before the move (the rows its log control still shows):
    the person filter."""
    t = audit_log_table.c
    members = (
        select(User.id, User.name)
        .join(Membership, Membership.user_id == User.id)
        .join(Plan, Plan.id == Membership.plan_id)
        .where(Plan.municipality_id == municipality_id)
    )
    before_moves = (
        select(User.id, User.name)
        .join(audit_log_table, t.actor_user_id == User.id)
        .join(
            PlanMove,
            and_(
                PlanMove.plan_id == t.plan_id,
                PlanMove.kind == "internal",
                PlanMove.from_municipality_id == municipality_id,
                t.at <= PlanMove.moved_at,
            ),
        )
        .where(_opening())
    )
    both = union(members, before_moves).subquery()
    async with engine.connect() as conn:
        rows = await conn.execute(select(both.c.id, both.c.name).order_by(both.c.name, both.c.id))
        return [(uid, name) for uid, name in rows]
