"""Parse a room name strictly into (plan id, zone kind, zone key).

Nothing is ever keyed on the raw path: `plan/<uuid>/content`, `plan/<uuid>/comments`,
`plan/<uuid>/area/<id>` and `plan/<uuid>/minutes/<id>` are the only shapes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_SINGLE = {"content", "comments"}
_KEYED = {"area", "minutes"}


class BadRoomPath(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RoomPath:
    plan_id: str
    kind: str
    key: str

    def __str__(self) -> str:
        suffix = f"{self.kind}/{self.key}" if self.key else self.kind
        return f"plan/{self.plan_id}/{suffix}"


def parse_room_path(path: str) -> RoomPath:
    parts = path.split("/")
    if len(parts) not in (3, 4) or parts[0] != "plan":
        raise BadRoomPath("not a room path")
    try:
        plan_id = str(uuid.UUID(parts[1]))
    except ValueError as exc:
        raise BadRoomPath("bad plan id") from exc
    if plan_id != parts[1]:
        raise BadRoomPath("plan id not in canonical form")
    kind = parts[2]
    if len(parts) == 3 and kind in _SINGLE:
        return RoomPath(plan_id, kind, "")
    if len(parts) == 4 and kind in _KEYED and _KEY.match(parts[3]):
        return RoomPath(plan_id, kind, parts[3])
    raise BadRoomPath("unknown zone")


def is_uuid(value: str) -> bool:
    """A plan id as the URL must spell it (canonical lower-case UUID); anything else is a 404
    before the database is asked."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
