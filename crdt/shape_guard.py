"""Write-time check of the zone contract: what one transaction touched, nothing more.

A room applies an update before it can know what the update does (Yjs updates are opaque
until integrated), so the check observes the zone's list and map roots, their items and the
items' id lists, and judges only what changed: an item added to a list must be a map with a
string id whose named fields have their shapes (`FIELD_SHAPES`); a named field set on an item
or a map root must have its shape; an id may not be removed; a `responsible` list takes user
ids only. Typing (text and rich-text changes) calls no observer, so the hot path pays nothing.
Rich text is checked for its type (a `Y.XmlFragment` where the contract says rich text), not
for its inner structure: y-prosemirror and the readers (crdt/richtext.py) keep to the nodes
they know. Duplicate ids are left to readers (`conform_zone`): telling them apart would cost a
scan of the list per insert, and ids are UUIDs.
"""

from __future__ import annotations

import logging
from typing import Any

from pycrdt import Array, Doc, Map, Subscription

from crdt.schema import (
    FIELD_SHAPES,
    ZONE_ROOTS,
    Shape,
    ShapeProblem,
    is_user_id,
    safe_id,
    value_keeps_shape,
)

log = logging.getLogger("samplan.shapes")


class ShapeGuard:
    """Observers on one zone document's list and map roots, on every item of its lists and on
    each item's `responsible` list; `problems` collects what the last transactions broke (the
    room clears it before applying and reads it after).

    Shallow observers, one per type, not one deep observer per root: pycrdt 0.14 builds a
    Python event for every changed type under a deep observer, typing included, which cost
    15-35 us per typing update here (about 4x the apply itself); a shallow observer is only
    called when its own type changes, so typing costs nothing. Items removed later keep their
    observer until the room unloads (it is never called again)."""

    def __init__(self, doc: Doc[Any], kind: str) -> None:
        self.problems: list[ShapeProblem] = []
        self._subscriptions: list[tuple[Array[Any] | Map[Any], Subscription]] = []
        for name, root_type in ZONE_ROOTS[kind].items():
            if root_type is Array:
                root: Array[Any] = doc.get(name, type=Array)
                self._watch(root, _ListObserver(self, name))
                for item in root:
                    if isinstance(item, Map):
                        self.watch_item(name, item)
            elif root_type is Map:
                self._watch(doc.get(name, type=Map), _MapRootObserver(self, name))

    def watch_item(self, root: str, item: Map[Any]) -> None:
        self._watch(item, _ItemObserver(self, root))
        for key, value in item.items():
            if isinstance(value, Array) and FIELD_SHAPES.get(key) is Shape.USER_IDS:
                self.watch_ids(root, item, key, value)

    def watch_ids(self, root: str, item: Map[Any], key: str, ids: Array[Any]) -> None:
        self._watch(ids, _IdsObserver(self, root, item, key))

    def _watch(self, shared: Array[Any] | Map[Any], observer: Any) -> None:
        self._subscriptions.append((shared, shared.observe(observer)))

    def found(self, problem: ShapeProblem) -> None:
        self.problems.append(problem)

    def close(self) -> None:
        for shared, subscription in self._subscriptions:
            try:
                shared.unobserve(subscription)
            except Exception:  # a type whose item was deleted: nothing left to undo
                pass
        self._subscriptions.clear()


class _Observer:
    """One type's observer (a class, not a closure: the root name travels with it). Fails
    closed: a change the check cannot judge is not stored."""

    __slots__ = ("guard", "root")

    def __init__(self, guard: ShapeGuard, root: str) -> None:
        self.guard = guard
        self.root = root

    def __call__(self, event: Any) -> None:
        try:
            self.check(event)
        except Exception as exc:
            log.error("shape check failed: %s", type(exc).__name__, exc_info=exc)
            self.guard.found(ShapeProblem(self.root, None, None, None))

    def check(self, event: Any) -> None:
        raise NotImplementedError


class _ListObserver(_Observer):
    """A list root: every item added is a map with a string id and fields of their shapes."""

    __slots__ = ()

    def check(self, event: Any) -> None:
        position = 0
        for op in event.delta:
            inserted = op.get("insert")
            if inserted is None:
                position += op.get("retain", 0)
                continue
            for value in inserted:
                if _item_keeps(self.guard, self.root, value, position):
                    self.guard.watch_item(self.root, value)
                position += 1


class _ItemObserver(_Observer):
    """One list item: the fields set on it (an id may not be removed)."""

    __slots__ = ()

    def check(self, event: Any) -> None:
        item = event.target
        for key, change in event.keys.items():
            if change.get("action") == "delete":
                if key == "id":
                    self.guard.found(ShapeProblem(self.root, None, None, "id"))
                continue
            value = change.get("newValue")
            if not _keeps(self.root, key, value):
                self.guard.found(ShapeProblem(self.root, _id_of(item), None, key))
            elif isinstance(value, Array) and FIELD_SHAPES.get(key) is Shape.USER_IDS:
                self.guard.watch_ids(self.root, item, key, value)


class _MapRootObserver(_Observer):
    """A map root (meta, meeting): its own keys."""

    __slots__ = ()

    def check(self, event: Any) -> None:
        for key, change in event.keys.items():
            if not value_keeps_shape(self.root, key, change.get("newValue")):
                self.guard.found(ShapeProblem(self.root, None, None, key))


class _IdsObserver(_Observer):
    """An item's `responsible` list: user ids only."""

    __slots__ = ("item", "key")

    def __init__(self, guard: ShapeGuard, root: str, item: Map[Any], key: str) -> None:
        super().__init__(guard, root)
        self.item = item
        self.key = key

    def check(self, event: Any) -> None:
        for op in event.delta:
            for value in op.get("insert") or ():
                if not is_user_id(value):
                    self.guard.found(ShapeProblem(self.root, _id_of(self.item), None, self.key))
                    return


def _keeps(root: str, key: str, value: Any) -> bool:
    if key == "id":
        return isinstance(value, str) and bool(value)
    return value_keeps_shape(root, key, value)


def _item_keeps(guard: ShapeGuard, root: str, value: Any, position: int) -> bool:
    """Whether an item added to a list keeps the contract (every problem is noted)."""
    if not isinstance(value, Map):
        guard.found(ShapeProblem(root, None, position, None))
        return False
    item_id = value.get("id")
    if not isinstance(item_id, str) or not item_id:
        guard.found(ShapeProblem(root, None, position, "id"))
        return False
    kept = True
    for key, field in value.items():
        if not value_keeps_shape(root, key, field):
            guard.found(ShapeProblem(root, _id_of(value), position, key))
            kept = False
    return kept


def _id_of(item: Any) -> str | None:
    """The item's id for a log line, when it looks like one (never free text)."""
    return safe_id(item.get("id") if isinstance(item, Map) else None)
