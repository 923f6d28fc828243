"""The role table of DESIGN §3 for zones: who may read and who may write which zone kind.

SQL is the authority (roles live in memberships); this is the one place that says what a
role means for a connection. The server never looks inside an update to decide.
"""

from __future__ import annotations

from enum import StrEnum


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
