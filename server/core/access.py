"""The role table of DESIGN §3 for zones: who may read and who may write which zone kind.

SQL is the authority (roles live in memberships); this is the one place that says what a
role means for a connection. The server never looks inside an update to decide.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from crdt.schema import ZoneKind
from server.core import clock
from storage.repositories.consents import ConsentRecord, MemberAccess


class Role(StrEnum):
    PLANEIER = "planeier"
    VERGE = "verge"
    KOORDINATOR = "koordinator"
    DELTAKER = "deltaker"
    LESER = "leser"


READ, WRITE = "r", "rw"

ZONE_ACCESS: dict[Role, dict[ZoneKind, str]] = {
    Role.PLANEIER: {
        ZoneKind.CONTENT: WRITE,
        ZoneKind.AREA: WRITE,
        ZoneKind.COMMENTS: WRITE,
        ZoneKind.MINUTES: READ,
    },
    Role.VERGE: {
        ZoneKind.CONTENT: WRITE,
        ZoneKind.AREA: WRITE,
        ZoneKind.COMMENTS: WRITE,
        ZoneKind.MINUTES: READ,
    },
    Role.KOORDINATOR: {
        ZoneKind.CONTENT: WRITE,
        ZoneKind.AREA: WRITE,
        ZoneKind.COMMENTS: WRITE,
        ZoneKind.MINUTES: WRITE,
    },
    Role.DELTAKER: {
        ZoneKind.CONTENT: WRITE,
        ZoneKind.AREA: WRITE,
        ZoneKind.COMMENTS: WRITE,
        ZoneKind.MINUTES: WRITE,
    },
    Role.LESER: {
        ZoneKind.CONTENT: READ,
        ZoneKind.AREA: READ,
        ZoneKind.COMMENTS: WRITE,
        ZoneKind.MINUTES: READ,
    },
}


# Zones no socket writes (DESIGN §2): the server writes them for the signed-in person, so an
# author, a name or a time in them is what the server saw. There the role table's "rw" means
# "may write through the server" (server/plans/comments.py asks with `by_server=True`); every
# connection, the browser's included, only reads them.
SERVER_WRITTEN_KINDS = frozenset({ZoneKind.COMMENTS})


def zone_access(role: str, kind: str) -> str | None:
    """'rw', 'r', or None when the role may not open the zone at all."""
    try:
        return ZONE_ACCESS[Role(role)].get(ZoneKind(kind))
    except ValueError:
        return None


def can_read(role: str, kind: str) -> bool:
    return zone_access(role, kind) is not None


def can_write(role: str, kind: str) -> bool:
    return zone_access(role, kind) == WRITE


# Roles that own or run the plan never need consent (DESIGN §3); the others only see what the
# planeier (or verge) has consented to share with them.
CONSENT_FREE_ROLES = frozenset({Role.PLANEIER, Role.VERGE, Role.KOORDINATOR})


# DESIGN §3's "publish minutes" and "approve minutes" columns.
PUBLISH_ROLES = (Role.KOORDINATOR,)
APPROVE_ROLES = (Role.PLANEIER, Role.VERGE)

# DESIGN §3's "access log" column: who may see who has been in the plan.
ACCESS_LOG_ROLES = frozenset({Role.PLANEIER, Role.VERGE, Role.KOORDINATOR})


def may_see_access_log(role: str) -> bool:
    return role in ACCESS_LOG_ROLES


def needs_consent(role: str) -> bool:
    return role not in CONSENT_FREE_ROLES


def sees_plan(member: MemberAccess | None, today: date) -> bool:
    """Whether a member may open the plan at all: a deltaker or leser sees nothing of it
    before the planeier (or verge) consents (DESIGN §3), and nothing of a draft ("utkast",
    before the consent to the plan being made): then `member.consent` is None too, so every
    zone check (`effective_access`) refuses them as well."""
    if member is None:
        return False
    if needs_consent(member.role) and member.plan_draft:
        return False
    if needs_consent(member.role):
        return member.consent is not None and member.consent.active_on(today)
    return True


# DESIGN §3, column "members, consent admin": the koordinator runs the ansvarsgruppe (roles,
# units, contributions, removing a member, handing the koordinator role over).
MEMBER_ADMIN_ROLES = frozenset({Role.KOORDINATOR})
# The roles the koordinator gives and takes on the plan page. The planeier and verge are the
# person and their guardian (set by the operator, `samplan member add`); the koordinator role
# moves only by a handover, so a plan never has two, or none.
ASSIGNABLE_ROLES = (Role.DELTAKER, Role.LESER)


def may_manage_members(role: str) -> bool:
    return role in MEMBER_ADMIN_ROLES


def may_edit_contribution(role: str, my_user_id: int, member_user_id: int) -> bool:
    """What a member contributes is in their own words (issue 11): every member who writes in
    the plan edits their own (a leser observes and writes nothing but comments); the
    koordinator, who writes the plan down with the group, edits anyone's. The page says who
    wrote it last."""
    if may_manage_members(role):
        return True
    return my_user_id == member_user_id and can_write(role, ZoneKind.CONTENT.value)


# DESIGN §3, column export/print: the person, the guardian and the koordinator.
EXPORT_ROLES = frozenset({Role.PLANEIER, Role.VERGE, Role.KOORDINATOR})


def can_export(role: str) -> bool:
    return role in EXPORT_ROLES


def effective_access(
    role: str | None,
    kind: str,
    zone: str,
    consent: ConsentRecord | None,
    today: date | None = None,
    *,
    closed: bool = False,
    by_server: bool = False,
) -> str | None:
    """The one answer to "what may this member do in this zone": 'rw', 'r' or None.

    `zone` is the room suffix ('content', 'area/skole', ...). The role table decides first; a
    deltaker or leser then also needs an active consent whose scope covers the zone (consent
    never widens what the role allows). A closed plan is read-only for every role. A zone the
    server writes (SERVER_WRITTEN_KINDS) is read-only to a connection; `by_server` asks what
    the server may write there on the member's behalf instead.
    """
    if role is None:
        return None
    access = zone_access(role, kind)
    if access is not None and needs_consent(role):
        if consent is None or not consent.active_on(today or clock.today_oslo()):
            return None
        if not consent.covers(zone):
            return None
    if closed and access == WRITE:
        return READ
    if access == WRITE and not by_server and kind in SERVER_WRITTEN_KINDS:
        return READ
    return access


def sees_member_details(role: str, consent: ConsentRecord | None, today: date) -> bool:
    """Whether this member sees the other members' e-mail, unit and contribution text.

    Everyone who may open the plan sees who is in the ansvarsgruppe (names and roles: they
    need to know who they work with). Contact details and what each member contributes
    belong to the plan's common part, `content` (DESIGN §2), so they follow consent to
    `content`: the planeier, verge and koordinator always see them; a deltaker or leser only
    when their consent covers `content`. A member always sees their own."""
    zone = ZoneKind.CONTENT.value
    return effective_access(role, zone, zone, consent, today) is not None


# pasient- og brukerrettighetsloven § 4-3 and § 4-4: from 16 the person consents; below 16 the
# parents (or another with parental responsibility) do. shared/domain/individuell-plan.md §1.5.
CONSENT_AGE = 16


def age_on(birth_date: date, today: date) -> int:
    """Whole years on `today`. Born 29 February: the birthday of a common year is 1 March
    (the day after 28 February), the later and so the careful reading for consent."""
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


class ConsentRule(StrEnum):
    """Why these roles may give consent; the page explains it with `consent.rule.<value>`."""

    UNKNOWN_AGE = "unknown_age"  # no birth date recorded: planeier or verge
    UNDER_16 = "under_16"  # the verge / foresatt gives it; the planeier sees it read-only
    FROM_16 = "from_16"  # the planeier gives it; an appointed verge may too


def consent_rule(birth_date: date | None, today: date | None = None) -> ConsentRule:
    if birth_date is None:
        return ConsentRule.UNKNOWN_AGE
    if age_on(birth_date, today or clock.today_oslo()) < CONSENT_AGE:
        return ConsentRule.UNDER_16
    return ConsentRule.FROM_16


def may_give_consent(role: str, birth_date: date | None, today: date | None = None) -> bool:
    """The one answer to "may this member give, refuse or revoke consent in this plan":
    who may follows the person's age on today's date in Oslo (`consent_rule`). The koordinator
    never does: consent is the person's (or the guardian's) to give."""
    if role == Role.VERGE:
        return True  # under 16 the foresatt decides; from 16 an appointed verge may too
    if role == Role.PLANEIER:
        return consent_rule(birth_date, today) != ConsentRule.UNDER_16
    return False
