"""Which items each logged update touched, traced off the hot path.

Who made a change and when is stored with the update itself (storage: `zone_updates.user_id`,
kept in `zone_changes` when compaction folds the update away). Which items it touched is
worked out here, from the stored log, not while relaying: observing every typed character
of an area's texts costs 15-20 us per update (4x the apply itself, measured with pycrdt
0.14), while the shape check keeps typing free of observers (crdt/shape_guard.py). So the
trace replays the log tail on a scratch document from the snapshot it applies to: when the
room compacts (the records then keep it) and when a page asks for a zone's history.

An update's trace, as JSON: `{item_id: {"root": list, "fields": {field: [old, new] | null}}}`
with `"created": true` / `"deleted": true` for an added / removed item. Short fields (text,
dates, enums, ids) carry their old and new value; rich text (a description) only that it
changed (null). The area lists (goals, measures, evaluations) are traced: they are what
"Sist endret av" and an item's history show. So is the content zone's "Om meg" (`aboutMe`,
issue 13: who last wrote the person's own words), as one entry under the root's own name:
`{"aboutMe": {"root": "aboutMe", "fields": {"aboutMe": null}}}`. Other zones and roots keep
who and when.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence, Set
from typing import Any

from pycrdt import Array, Doc, Map, Text, XmlFragment, merge_updates

from crdt.schema import (
    ABOUT_ME,
    AREA,
    CONTENT,
    EVALUATIONS,
    GOALS,
    MEASURES,
    value_keeps_shape,
)
from crdt.update_format import apply_update_safely

TRACED_ROOTS: dict[str, tuple[str, ...]] = {AREA: (GOALS, MEASURES, EVALUATIONS)}
# Rich-text roots traced as a whole (that they changed, never their words).
TRACED_TEXTS: dict[str, tuple[str, ...]] = {CONTENT: (ABOUT_ME,)}
Trace = dict[str, dict[str, Any]]


def traces_kind(kind: str) -> bool:
    return kind in TRACED_ROOTS or kind in TRACED_TEXTS


def _value(value: Any) -> Any:
    """A field as the trace compares it: text as str, lists as lists, rich text as str (only
    to tell whether it changed; its words are never put in a trace)."""
    if isinstance(value, Text | XmlFragment):
        return str(value)
    if isinstance(value, Array):
        return [_value(v) for v in value]
    if isinstance(value, Map):
        return {k: _value(v) for k, v in value.items()}
    return value


# A browser's own "last changed by" stamp is not a change anyone made to the plan: the record
# itself says who changed what (crdt/versions.py ignores the same fields).
_NOT_TRACED = frozenset({"id", "updatedBy", "updatedAt"})


def _fields(root: str, item: Map[Any]) -> dict[str, tuple[bool, Any]]:
    """The item's fields as a trace sees them: what breaks the contract is left out, exactly
    as readers leave it out (crdt/schema.py), so no trace carries it."""
    return {
        k: (isinstance(v, XmlFragment), _value(v))
        for k, v in item.items()
        if k not in _NOT_TRACED and value_keeps_shape(root, k, v)
    }


def _repeats_an_earlier_id(root: Array[Any], index: int) -> bool:
    """A second item with an id already used earlier in the list: readers keep the first
    (crdt/schema.py), so the trace leaves the copy out too."""
    item = root[index]
    if not isinstance(item, Map):
        return False
    item_id = item.get("id")
    return any(
        isinstance(other, Map) and other.get("id") == item_id for other in list(root)[:index]
    )


class _Tracer:
    def __init__(self, doc: Doc[Any], kind: str) -> None:
        self.roots: dict[str, Array[Any]] = {
            name: doc.get(name, type=Array) for name in TRACED_ROOTS.get(kind, ())
        }
        # What each item held after the previous update: the "old" of the next change.
        self.known: dict[str, tuple[str, dict[str, tuple[bool, Any]]]] = {}
        for name, root in self.roots.items():
            for item in root:
                self._remember(name, item)
        self.touched: set[tuple[str, int | None]] = set()
        self._subscriptions: list[tuple[Any, Any]] = [
            (root, root.observe_deep(_Collect(self.touched, name)))
            for name, root in self.roots.items()
        ]
        self.texts_touched: set[tuple[str, int | None]] = set()
        for name in TRACED_TEXTS.get(kind, ()):
            text = doc.get(name, type=XmlFragment)
            self._subscriptions.append(
                (text, text.observe_deep(_Collect(self.texts_touched, name)))
            )

    def _remember(self, root: str, item: Any) -> str | None:
        if not isinstance(item, Map):
            return None
        item_id = item.get("id")
        if not isinstance(item_id, str):
            return None
        self.known[item_id] = (root, _fields(root, item))
        return item_id

    def trace(self) -> Trace:
        """What the updates applied since the last call changed, and remember the new state."""
        trace: Trace = {}
        for name in sorted({root for root, _ in self.texts_touched}):
            trace[name] = {"root": name, "fields": {name: None}}
        self.texts_touched.clear()
        touched, self.touched = set(self.touched), self.touched
        self.touched.clear()
        for name in sorted({root for root, _ in touched}):
            root = self.roots[name]
            whole_list = any(r == name and index is None for r, index in touched)
            length = len(root)
            if whole_list:
                indexes = list(range(length))
            else:
                indexes = sorted({i for r, i in touched if r == name and i is not None})
            for index in indexes:
                if index < length and not _repeats_an_earlier_id(root, index):
                    self._trace_item(name, root[index], trace)
            if whole_list:
                present = {i.get("id") for i in root if isinstance(i, Map)}
                for item_id, (known_root, _) in list(self.known.items()):
                    if known_root == name and item_id not in present:
                        trace[item_id] = {"root": name, "deleted": True, "fields": {}}
                        del self.known[item_id]
        return trace

    def _trace_item(self, root: str, item: Any, trace: Trace) -> None:
        if not isinstance(item, Map) or not isinstance(item.get("id"), str):
            return
        item_id: str = item["id"]
        before = self.known.get(item_id)
        now = _fields(root, item)
        self.known[item_id] = (root, now)
        changes: dict[str, Any] = {}
        old_fields = before[1] if before is not None else {}
        for key, (rich, value) in now.items():
            old = old_fields.get(key)
            if old is not None and old[1] == value:
                continue
            changes[key] = None if rich else [None if old is None else old[1], value]
        for key in old_fields.keys() - now.keys():
            rich, value = old_fields[key]
            changes[key] = None if rich else [value, None]
        if changes or before is None:
            entry: dict[str, Any] = {"root": root, "fields": changes}
            if before is None:
                entry["created"] = True
            trace[item_id] = entry

    def close(self) -> None:
        for root, subscription in self._subscriptions:
            root.unobserve(subscription)


class _Collect:
    __slots__ = ("touched", "root")

    def __init__(self, touched: set[tuple[str, int | None]], root: str) -> None:
        self.touched = touched
        self.root = root

    def __call__(self, events: Iterable[Any]) -> None:
        for event in events:
            path = event.path
            self.touched.add((self.root, path[0] if path else None))


def trace_updates(
    kind: str, snapshot: bytes | None, updates: Iterable[tuple[int, bytes]]
) -> dict[int, str]:
    """The trace (JSON) of each update, by seq, replayed on top of `snapshot`. A zone kind
    that is not traced gives nothing; an update that touched no traced item gives "{}"."""
    if not traces_kind(kind):
        return {}
    return _replay(kind, snapshot, updates)[0]


def trace_and_fold(
    kind: str, snapshot: bytes | None, updates: Sequence[tuple[int, bytes]], folded: Set[int]
) -> tuple[dict[int, str], bytes]:
    """The traces of `updates` (as `trace_updates`) and the snapshot that folds exactly the
    ones in `folded` into `snapshot`: compaction's work, in one worker-thread call.

    The new snapshot holds nothing still left in the log, so a later trace of what stays
    (another node's updates, or ones logged while this ran) replays on a state without it
    and sees its change. When every update is folded (one node: nearly always) the replay's
    own document is that snapshot. Otherwise the folded updates are merged as updates, not
    applied: a document drops from its state whatever waits for a missing dependency, and a
    merge drops nothing (10 ms for 1000 typed updates on a 90 KB zone).
    """
    traces, doc = _replay(kind, snapshot, updates)
    if all(seq in folded for seq, _ in updates):
        return traces, doc.get_update()
    parts = [*([snapshot] if snapshot is not None else []), *(u for s, u in updates if s in folded)]
    return traces, parts[0] if len(parts) == 1 else merge_updates(*parts)


def _replay(
    kind: str, snapshot: bytes | None, updates: Iterable[tuple[int, bytes]]
) -> tuple[dict[int, str], Doc[Any]]:
    doc: Doc[Any] = Doc()
    if snapshot is not None:
        apply_update_safely(doc, snapshot)
    tracer = _Tracer(doc, kind)
    traces: dict[int, str] = {}
    try:
        for seq, update in updates:
            apply_update_safely(doc, update)
            traces[seq] = json.dumps(tracer.trace(), ensure_ascii=False)
    finally:
        tracer.close()
    return traces, doc


def parse_trace(items: str | None) -> Mapping[str, Any]:
    """A stored trace, or {} for none or one this version cannot read."""
    if not items:
        return {}
    try:
        value = json.loads(items)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
