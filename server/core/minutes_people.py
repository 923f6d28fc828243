"""Who the people in published minutes are: names for the user ids inside a frozen version.

Published minutes are hashed as they were published, user ids included, so those ids are the
ones of the database they were published in and never change. After `samplan import` gave
people other ids here, id 7 inside the minutes may be someone else here, or nobody. So a name
comes, in this order:

1. from the minutes themselves: an attendee carries the name they had when the minutes were
   written, and an action item's responsible is looked up among the attendees by the
   content's own ids (both in the same id space, wherever the minutes are read);
2. otherwise through the id the person has in THIS database: the version's
   `content_user_ids` ({id inside content: users.id here}, stored by the import; None for
   minutes published here, whose ids are ours), then the users table, not the plan's current
   members, so someone who has left the plan is still named in what was written with them.

An id the mapping does not know is never looked up as it stands: no name beats a wrong one.
The same rules serve the page (a database's users) and the print view (an export document's
people, whose ids are the exporting database's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from crdt.schema import USER_REF_FIELDS, USER_REF_LISTS


def parse_content(content: str) -> dict[str, Any]:
    """A published version's content as a dict ({} for anything else: it is shown, not
    trusted)."""
    try:
        value = json.loads(content)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def content_user_ids(content: Mapping[str, Any]) -> list[str]:
    """The user ids the content refers to (attendees, responsibles, the referent), each once,
    in order, as strings; only ids that can be users.id (digits; a number is read as its
    digits, as the page compares them)."""
    return list(dict.fromkeys(_ids_in(content)))


def _ids_in(value: Any, key: str = "") -> Iterable[str]:
    if isinstance(value, Mapping):
        for k, item in value.items():
            yield from _ids_in(item, k)
    elif isinstance(value, list):
        for item in value:
            yield from _ids_in(item, key if key in USER_REF_LISTS else "")
    elif key in USER_REF_FIELDS or key in USER_REF_LISTS:
        uid = _id(value)
        if uid is not None:
            yield uid


def _id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    text = str(value) if isinstance(value, int | str) else ""
    return text if text.isdigit() else None


def local_user_ids(content: Mapping[str, Any], mapping: Mapping[str, int] | None) -> dict[str, int]:
    """{id inside content: user id in the database `mapping` belongs to}, for the ids it knows.
    `mapping` None: the content was published in that database, so its ids are the user ids."""
    ids = content_user_ids(content)
    if mapping is None:
        return {uid: int(uid) for uid in ids}
    return {uid: mapping[uid] for uid in ids if uid in mapping}


def attendee_names(content: Mapping[str, Any]) -> dict[str, str]:
    """{id inside content: name} as the minutes' own attendee list writes it (first wins)."""
    names: dict[str, str] = {}
    attendees = content.get("attendees")
    for attendee in attendees if isinstance(attendees, list) else []:
        if not isinstance(attendee, dict):
            continue
        uid, name = _id(attendee.get("userId")), attendee.get("name")
        if uid is not None and isinstance(name, str) and name.strip():
            names.setdefault(uid, name)
    return names


def names_for(
    content: Mapping[str, Any],
    mapping: Mapping[str, int] | None,
    people: Mapping[int, str],
) -> dict[str, str]:
    """{id inside content: name}: the minutes' own names first, then `people` ({user id:
    name} of the database `mapping` points into) through the mapping."""
    names = {
        uid: people[local]
        for uid, local in local_user_ids(content, mapping).items()
        if local in people
    }
    names.update(attendee_names(content))
    return names


def wanted_user_ids(content: Mapping[str, Any], mapping: Mapping[str, int] | None) -> Iterable[int]:
    """The user ids (of `mapping`'s database) whose names `names_for` may need."""
    own = attendee_names(content)
    return [local for uid, local in local_user_ids(content, mapping).items() if uid not in own]
