"""Frozen copies of zones: published minutes' canonical content, what changed between two
states of a zone, and restoring an old state as a new change.

All three work on `read_zone`'s plain form (crdt/schema.py), the readable rendering a version
keeps beside the Yjs bytes. A restore writes whole values through crdt/schema.py's helpers,
never by position (DESIGN §9), and never applies an old Yjs update: that would neither undo
later deletions nor bring back deleted items (their ids are gone from the delete set's point
of view), and the history must only ever grow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pycrdt import Array, Doc, Map, XmlFragment

from crdt.richtext import nodes_plain, set_rich_text
from crdt.schema import (
    ACTION_ITEMS,
    AGENDA,
    ATTENDEES,
    COLLABORATION,
    CONTRIBUTIONS,
    EVALUATIONS,
    GOALS,
    ITEM_FIELDS,
    LEGACY_STAMPS,
    MEASURES,
    MEETING,
    MINUTES,
    OTHER_PLANS,
    _read_value,
    _set_field,
    get_root,
    read_zone,
)

CANONICAL_FORMAT = "samplan.minutes.v1"
# The legacy stamps a client wrote (crdt/schema.py): never shown, never compared, never
# written back; who changed what is the server's record.
STAMP_FIELDS = LEGACY_STAMPS
# How an item is named for people in a diff, per list.
ITEM_LABELS: dict[str, tuple[str, ...]] = {
    GOALS: ("label", "title"),
    MEASURES: ("title",),
    EVALUATIONS: ("date", "result"),
    CONTRIBUTIONS: ("name",),
    COLLABORATION: ("name", "organisation"),
    OTHER_PLANS: ("title", "kind"),
}


# --- published minutes -------------------------------------------------------------------


def minutes_content(doc: Doc[Any]) -> dict[str, Any]:
    """The minutes as frozen on publication: attendees, agenda sections (body as plain text
    and as the editor's structured nodes), decisions and action items, in document order."""
    data = read_zone(doc, MINUTES)
    agenda = [
        {
            "id": item.get("id"),
            "title": item.get("title") or "",
            "body": nodes_plain(item.get("body") or []),
            "bodyNodes": item.get("body") or [],
            "decision": item.get("decision") or "",
        }
        for item in data[AGENDA]
    ]
    return {
        "format": CANONICAL_FORMAT,
        "meeting": data[MEETING],
        "attendees": [_fields(item, ATTENDEES) for item in data[ATTENDEES]],
        "agenda": agenda,
        "decisions": [
            {"agendaId": a["id"], "title": a["title"], "decision": a["decision"]}
            for a in agenda
            if a["decision"].strip()
        ],
        "actionItems": [_fields(item, ACTION_ITEMS) for item in data[ACTION_ITEMS]],
    }


def _fields(item: Mapping[str, Any], list_name: str) -> dict[str, Any]:
    return {key: item.get(key) for key in ITEM_FIELDS[list_name]}


def canonical_json(value: Any) -> str:
    """One spelling for one content: sorted keys, no spaces, UTF-8 text (not \\u escapes).
    The hash is over exactly these bytes, so anyone can recompute it from the JSON served."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def content_hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_empty_minutes(content: Mapping[str, Any]) -> bool:
    return not (content["attendees"] or content["agenda"] or content["actionItems"])


# --- what changed ------------------------------------------------------------------------


def zone_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What changed from `old` to `new` (both `read_zone` form), compared by item id.

    One entry per change: {"root", "change": "added"|"removed"|"changed", "id", "label",
    "fields"}; for a Map or rich-text root that changed, one "changed" entry with no id.
    """
    changes: list[dict[str, Any]] = []
    for root in dict.fromkeys([*old, *new]):
        before, after = old.get(root), new.get(root)
        if before == after:
            continue
        if isinstance(before, list | type(None)) and isinstance(after, list | type(None)):
            if _is_item_list(before) and _is_item_list(after):
                changes.extend(_list_changes(root, before or [], after or []))
                continue
        if isinstance(before, dict) and isinstance(after, dict):
            fields = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
            changes.append(
                {"root": root, "change": "changed", "id": None, "label": "", "fields": fields}
            )
            continue
        changes.append({"root": root, "change": "changed", "id": None, "label": "", "fields": []})
    return changes


def _is_item_list(value: Any) -> bool:
    return value is None or all(isinstance(v, dict) and "id" in v for v in value)


def _list_changes(
    root: str, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    old = {item["id"]: item for item in before}
    new = {item["id"]: item for item in after}
    out: list[dict[str, Any]] = []
    for item_id, item in new.items():
        if item_id not in old:
            out.append(_change(root, "added", item, []))
        else:
            fields = sorted(
                k
                for k in {*item, *old[item_id]}
                if k not in STAMP_FIELDS and item.get(k) != old[item_id].get(k)
            )
            if fields:
                out.append(_change(root, "changed", item, fields, old[item_id]))
    for item_id, item in old.items():
        if item_id not in new:
            out.append(_change(root, "removed", item, []))
    return out


def _change(
    root: str,
    change: str,
    item: Mapping[str, Any],
    fields: list[str],
    before: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    label = item_label(root, item)
    if before is not None and item_label(root, before) != label:
        label = f"{item_label(root, before)} → {label}"
    return {"root": root, "change": change, "id": item["id"], "label": label, "fields": fields}


def item_label(root: str, item: Mapping[str, Any]) -> str:
    parts = [str(item.get(key) or "").strip() for key in ITEM_LABELS.get(root, ("title",))]
    return " ".join(p for p in parts if p) or str(item.get("id", ""))


# --- restore -----------------------------------------------------------------------------


def restore_zone(doc: Doc[Any], kind: str, old: Mapping[str, Any]) -> int:
    """Make the zone read like `old` again, as a new change on top of today's document.

    Lists of items with ids: items added since are removed, each old item's fields are put
    back as whole values where they differ (updated in place, by id, so open editors stay
    bound), and items removed since are added back at their old place. Map roots get their
    old keys back (keys added since are removed); rich-text roots are replaced whole. The
    legacy stamps are neither put back nor stamped: the record of the restore's own update
    says who restored (`RoomRegistry.edit(..., actor=...)`). Returns the number of values
    written (0: nothing differed).
    """
    written = 0
    with doc.transaction():
        for name, value in old.items():
            try:
                root = get_root(doc, kind, name)
            except ValueError:
                continue  # a root the contract no longer has
            if isinstance(root, XmlFragment):
                if _read_value(root) != (value or []):
                    set_rich_text(root, value or [])
                    written += 1
            elif isinstance(root, Map):
                written += _restore_map(root, value or {}, ())
            elif isinstance(root, Array):
                written += _restore_list(root, value or [])
    return written


def _restore_map(item: Map[Any], old: Mapping[str, Any], keep: Sequence[str]) -> int:
    written = 0
    for key in [k for k in item.keys() if k not in old and k not in keep]:
        del item[key]
        written += 1
    for key, value in old.items():
        if key in keep:
            continue
        if _read_value(item.get(key)) != value:
            _set_field(item, key, value)
            written += 1
    return written


def _restore_list(array: Array[Any], old: Sequence[Mapping[str, Any]]) -> int:
    wanted = {item["id"] for item in old if isinstance(item, Mapping) and "id" in item}
    written = 0
    for index in reversed(range(len(array))):
        current = array[index]
        if not isinstance(current, Map) or current.get("id") not in wanted:
            del array[index]
            written += 1
    present = {item.get("id"): item for item in array if isinstance(item, Map)}
    previous_id: Any = None
    for old_item in old:
        item_id = old_item.get("id")
        values = {k: v for k, v in old_item.items() if k not in STAMP_FIELDS}
        current = present.get(item_id)
        if current is None:
            ids = [item.get("id") if isinstance(item, Map) else None for item in array]
            at = ids.index(previous_id) + 1 if previous_id in ids else 0
            new_item: Map[Any] = Map()
            array.insert(at, new_item)
            for key, value in values.items():
                _set_field(new_item, key, value)
            written += 1
        else:
            written += _restore_map(current, values, tuple(STAMP_FIELDS))
        previous_id = item_id
    return written
