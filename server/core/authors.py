"""Who changed what, as the server recorded it: a zone's author records, oldest first.

Every logged update carries the user whose socket sent it (or for whom the server wrote it);
compaction keeps that record with a trace of the items it touched (crdt/authorship.py). Here
the kept records and the log tail (traced now) read as one list: the only source of "Sist
endret av" and of an item's history. A name or time a client wrote into a document is never
read (DESIGN §2).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crdt.authorship import parse_trace, trace_updates, traces_kind
from crdt.schema import USER_REF_FIELDS, USER_REF_LISTS
from storage.repositories.updates import ZoneLog


@dataclass(frozen=True, slots=True)
class Change:
    """One durable change: who (None: the server itself), when, and what it touched by item
    id (`{item_id: {"root", "fields": {field: [old, new] | None}, "created"?, "deleted"?}}`;
    empty when the zone's kind is not traced)."""

    user_id: int | None
    at: datetime
    items: Mapping[str, Any]


# Per ZoneLog (one per running app): zone id -> (the log's version, its changes), the most
# recently read zones last. Many pages asking after one edit read and replay the log once;
# asking again unchanged costs one small query (ZoneLog.changes_version).
CACHED_ZONES = 64
_Version = tuple[int, int, int, int, int]
_cache: weakref.WeakKeyDictionary[ZoneLog, OrderedDict[int, tuple[_Version, list[Change]]]] = (
    weakref.WeakKeyDictionary()
)


async def zone_changes(zone_log: ZoneLog, zone_id: int, kind: str) -> list[Change]:
    """The zone's records, oldest first (the list is shared: never change it). The log tail is
    traced in a worker thread, since replaying it takes tens of milliseconds that live editing
    must not wait for, and the result is kept until the zone's log changes."""
    version = await zone_log.changes_version(zone_id)
    zones = _cache.setdefault(zone_log, OrderedDict())
    hit = zones.get(zone_id)
    if hit is not None and hit[0] == version:
        zones.move_to_end(zone_id)
        return hit[1]
    # Read after the version: a change in between makes the next call read again.
    stored = await zone_log.changes(zone_id)
    tail = [(r.seq, r.update) for r in stored.tail if r.seq is not None and r.update is not None]
    traces: dict[int, str] = {}
    if tail and traces_kind(kind):
        traces = await asyncio.to_thread(trace_updates, kind, stored.snapshot, tail)
    changes = [Change(r.user_id, r.at, parse_trace(r.items)) for r in stored.records]
    changes.extend(
        Change(r.user_id, r.at, parse_trace(traces.get(r.seq) if r.seq is not None else None))
        for r in stored.tail
    )
    zones[zone_id] = (version, changes)
    zones.move_to_end(zone_id)
    while len(zones) > CACHED_ZONES:
        zones.popitem(last=False)
    return changes


def last_changes(changes: Sequence[Change]) -> dict[str, Change]:
    """The last change of each item (deleted ones left out): "Sist endret av"."""
    last: dict[str, Change] = {}
    for change in changes:
        for item_id, entry in change.items.items():
            if isinstance(entry, dict) and entry.get("deleted"):
                last.pop(item_id, None)
            else:
                last[item_id] = change
    return last


def last_field_changes(changes: Sequence[Change], *fields: str) -> dict[str, Change]:
    """The last change that wrote `field` (any of `fields`) of each item (an item's creation
    counts when it gave the field a value): who the server saw write what the field holds
    now. An item deleted since is left out; one whose field no record wrote (written before
    records existed) is absent."""
    last: dict[str, Change] = {}
    for change in changes:
        for item_id, entry in change.items.items():
            if not isinstance(entry, dict):
                continue
            if entry.get("deleted"):
                last.pop(item_id, None)
            elif any(field in (entry.get("fields") or {}) for field in fields):
                last[item_id] = change
    return last


def recorded_now(
    changes: Sequence[Change], item_id: str, fields: Sequence[str], now: Mapping[str, Any]
) -> bool:
    """Whether the records hold what `fields` of the item hold `now` (the item as readers
    see it): the record may lag a write the document already has, and a writer is credited
    only with words the record shows them writing. A field no record wrote is fine only while
    it is empty."""
    recorded: dict[str, Any] = {}
    for change in changes:
        entry = change.items.get(item_id)
        if not isinstance(entry, dict):
            continue
        if entry.get("deleted"):
            recorded.clear()
        for field in fields:
            values = (entry.get("fields") or {}).get(field)
            if isinstance(values, list) and len(values) == 2:
                recorded[field] = values[1]
    return all(
        (_empty(now.get(f)) and _empty(recorded.get(f))) or recorded.get(f) == now.get(f)
        for f in fields
    )


def _empty(value: Any) -> bool:
    return value is None or value == ""


# Whose words an evaluation's `ownerComment` ("Planeiers kommentar") may be credited as.
OWNER_COMMENT = "ownerComment"
OWNER_ROLES = frozenset({"planeier", "verge"})


def owner_comment_credit(change: Change | None, roles: Mapping[str, str]) -> int | str | None:
    """Whom an `ownerComment` (or a goal's own words and status, issue 13) is credited to,
    from the last change that wrote it (see `last_field_changes`) and the plan's roles by
    user id (a string): "owner" when that was the planeier or the verge; else the writer's
    user id; None when no one is on record (written before records existed, or by the
    server). Words are credited only to whoever the server saw write them."""
    if change is None or change.user_id is None:
        return None
    if roles.get(str(change.user_id)) in OWNER_ROLES:
        return "owner"
    return change.user_id


def owner_comment_label(
    credit: int | str | None, t: Callable[[str], str], name_of: Callable[[int | str], str]
) -> str:
    """The label an `ownerComment` is shown under, from `owner_comment_credit`: the
    planeier's only when the record says so, else the writer's name, else no one's."""
    if credit is None:
        return t("evaluation.comment")
    if credit == "owner":
        return t("evaluation.ownerComment")
    return t("evaluation.commentFrom").replace("{name}", name_of(credit))


def remap_trace(items: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """A trace with the user ids in its old and new values renumbered (an import)."""

    def user(value: Any) -> Any:
        return mapping.get(value, value) if isinstance(value, str) else value

    out: dict[str, Any] = {}
    for item_id, entry in items.items():
        if not isinstance(entry, dict):
            continue
        fields: dict[str, Any] = {}
        for key, values in (entry.get("fields") or {}).items():
            if isinstance(values, list) and key in USER_REF_FIELDS:
                values = [user(v) for v in values]
            elif isinstance(values, list) and key in USER_REF_LISTS:
                values = [[user(u) for u in v] if isinstance(v, list) else v for v in values]
            fields[key] = values
        out[item_id] = {**entry, "fields": fields}
    return out
