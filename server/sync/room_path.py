"""Parse a room name strictly into (plan id, zone kind, zone key).

Nothing is ever keyed on the raw path: `plan/<uuid>/content`, `plan/<uuid>/comments`,
`plan/<uuid>/area/<id>` and `plan/<uuid>/minutes/<id>` are the only shapes. What a zone name
may be is crdt.schema's to say (`split_zone_name`); this module adds the plan id around it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from crdt.schema import split_zone_name, zone_name


class BadRoomPath(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RoomPath:
    plan_id: str
    kind: str
    key: str

    @property
    def zone(self) -> str:
        """The room suffix: 'content', 'area/skole', ..."""
        return zone_name(self.kind, self.key)

    def __str__(self) -> str:
        return f"plan/{self.plan_id}/{self.zone}"


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
    try:
        kind, key = split_zone_name("/".join(parts[2:]))
    except ValueError as exc:
        raise BadRoomPath("unknown zone") from exc
    return RoomPath(plan_id, kind, key)
