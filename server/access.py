"""The role table of DESIGN §3 for zones: who may read and who may write which zone kind.

SQL is the authority (roles live in memberships); this is the one place that says what a
role means for a connection. The server never looks inside an update to decide.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from storage.repositories.consents import ConsentRecord


class Role(StrEnum):
    PLANEIER = "planeier"
    VERGE = "verge"
    KOORDINATOR = "koordinator"
    DELTAKER = "deltaker"
    LESER = "leser"


class ZoneKind(StrEnum):
    CONTENT = "content"
    AREA = "area"
    COMMENTS = "comments"
    MINUTES = "minutes"


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
_OSLO = ZoneInfo("Europe/Oslo")


# DESIGN §3's "access log" column: who may see who has been in the plan.
ACCESS_LOG_ROLES = frozenset({Role.PLANEIER, Role.VERGE, Role.KOORDINATOR})


def may_see_access_log(role: str) -> bool:
    return role in ACCESS_LOG_ROLES


def today_oslo() -> date:
    return datetime.now(_OSLO).date()


def needs_consent(role: str) -> bool:
    return role not in CONSENT_FREE_ROLES


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
) -> str | None:
    """The one answer to "what may this member do in this zone": 'rw', 'r' or None.

    `zone` is the room suffix ('content', 'area/skole', ...). The role table decides first; a
    deltaker or leser then also needs an active consent whose scope covers the zone (consent
    never widens what the role allows).
    """
    if role is None:
        return None
    access = zone_access(role, kind)
    if access is None or not needs_consent(role):
        return access
    if consent is None or not consent.active_on(today or today_oslo()):
        return None
    return access if consent.covers(zone) else None
