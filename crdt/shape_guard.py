"""Write-time check of the zone contract: what one transaction touched, nothing more.

A room applies an update before it can know what the update does (Yjs updates are opaque
until integrated), so the check watches the zone's list and map roots with deep observers and
judges only what changed: an item added to a list must be a map with a string id whose named
fields have their shapes (`FIELD_SHAPES`); a named field set on an item or a map root must
have its shape; an id may not be removed; a `responsible` list takes user ids only. Typing
(text and rich-text events) is never looked at, so the hot path pays a type test per event.
Rich text is checked for its type (a `Y.XmlFragment` where the contract says rich text), not
for its inner structure: y-prosemirror and the readers (crdt/richtext.py) keep to the nodes
they know. Duplicate ids are left to readers (`conform_zone`): telling them apart would cost a
scan of the list per insert, and ids are UUIDs.
"""

from __future__ import annotations

import logging
from typing import Any

from pycrdt import Array, ArrayEvent, Doc, Map, MapEvent, Subscription

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
    """Deep observers on one zone document's list and map roots; `problems` collects what the
    last transactions broke (the room clears it before applying and reads it after)."""

    def __init__(self, doc: Doc[Any], kind: str) -> None:
        self.problems: list[ShapeProblem] = []
        self._roots: list[tuple[Array[Any] | Map[Any], Subscription]] = []
        for name, root_type in ZONE_ROOTS[kind].items():
            if root_type is Array or root_type is Map:
                root = doc.get(name, type=root_type)
                self._roots.append((root, root.observe_deep(_Observer(self, name))))

    def close(self) -> None:
        for root, subscription in self._roots:
            root.unobserve(subscription)
        self._roots.clear()


class _Observer:
    """One root's deep observer (a class, not a closure: the root name travels with it)."""

    __slots__ = ("guard", "root", "is_list")

    def __init__(self, guard: ShapeGuard, root: str) -> None:
        self.guard = guard
        self.root = root
        self.is_list = ZONE_ROOTS_IS_LIST[root]

    def __call__(self, events: list[Any]) -> None:
        for event in events:
            kind = type(event)
            if kind is not MapEvent and kind is not ArrayEvent:
                continue  # typing in a Text or a rich text: nothing the contract types
            try:
                self._check(event, kind is MapEvent)
            except Exception as exc:
                # Fail closed: a change the check cannot judge is not stored.
                log.error("shape check failed: %s", type(exc).__name__, exc_info=exc)
                self.guard.problems.append(ShapeProblem(self.root, None, None, None))

    def _check(self, event: Any, is_map: bool) -> None:
        path = event.path
        found = self.guard.problems
        root = self.root
        if not self.is_list:  # a map root (meta, meeting): its own keys only
            if is_map and not path:
                for key, change in event.keys.items():
                    if not value_keeps_shape(root, key, change.get("newValue")):
                        found.append(ShapeProblem(root, None, None, key))
            return
        if not path:  # the list itself: every item added
            position = 0
            for op in event.delta:
                inserted = op.get("insert")
                if inserted is None:
                    position += op.get("retain", 0)
                    continue
                for value in inserted:
                    _check_item(root, value, position, found)
                    position += 1
        elif len(path) == 1 and is_map:  # fields set on one item
            item = event.target
            for key, change in event.keys.items():
                if change.get("action") == "delete":
                    if key == "id":
                        found.append(ShapeProblem(root, None, path[0], "id"))
                elif not _keeps(root, key, change.get("newValue")):
                    found.append(ShapeProblem(root, _id_of(item), path[0], key))
        elif len(path) == 2 and not is_map and FIELD_SHAPES.get(path[1]) is Shape.USER_IDS:
            for op in event.delta:
                for value in op.get("insert") or ():
                    if not is_user_id(value):
                        found.append(ShapeProblem(root, None, path[0], path[1]))
                        return


ZONE_ROOTS_IS_LIST = {
    name: root_type is Array for roots in ZONE_ROOTS.values() for name, root_type in roots.items()
}


def _keeps(root: str, key: str, value: Any) -> bool:
    if key == "id":
        return isinstance(value, str) and bool(value)
    return value_keeps_shape(root, key, value)


def _check_item(root: str, value: Any, position: int, found: list[ShapeProblem]) -> None:
    if not isinstance(value, Map):
        found.append(ShapeProblem(root, None, position, None))
        return
    item_id = value.get("id")
    if not isinstance(item_id, str) or not item_id:
        found.append(ShapeProblem(root, None, position, "id"))
        return
    for key, field in value.items():
        if not value_keeps_shape(root, key, field):
            found.append(ShapeProblem(root, _id_of(value), position, key))


def _id_of(item: Any) -> str | None:
    """The item's id for a log line, when it looks like one (never free text)."""
    return safe_id(item.get("id") if isinstance(item, Map) else None)
