"""A zone's whole state as bytes: rebuilt from storage, checked when it comes from outside,
and its user-id references renumbered when a plan moves to another database.

The form export and import carry (`samplan export` / `samplan import`, the archive) is one
Yjs v1 update of the whole document, exactly what `Doc.get_update()` gives; any Yjs client
can load it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pycrdt import Array, Doc, Map, merge_updates

from crdt.schema import USER_REF_FIELDS, USER_REF_LISTS, ZONE_ROOTS, get_root, set_fields
from crdt.store import LoadedZoneLike
from crdt.update_format import apply_update_safely

LOAD_CHUNK = 32


def apply_stored(doc: Doc[Any], stored: LoadedZoneLike) -> None:
    """Apply a zone's snapshot and log tail to `doc` (the room's load and the CLI's export).

    The tail is merged in small chunks: applying a long single-typist log one update at a time
    is quadratic in pycrdt (10,000 updates: 103 ms one by one, 10 ms CPU in chunks of 32), while one
    merge of the whole log is slower still (merge_updates, DESIGN §9).
    """
    if stored.snapshot is not None:
        doc.apply_update(stored.snapshot)
    updates = [update for _, update in stored.updates]
    for start in range(0, len(updates), LOAD_CHUNK):
        chunk = updates[start : start + LOAD_CHUNK]
        doc.apply_update(chunk[0] if len(chunk) == 1 else merge_updates(*chunk))


def doc_from_stored(stored: LoadedZoneLike) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    apply_stored(doc, stored)
    return doc


def doc_from_state(state: bytes) -> Doc[Any]:
    """A document from a state that came from outside (an import file).

    Raises `crdt.lib0.MalformedFrame` when the bytes are not a Yjs update the CRDT accepts:
    pycrdt's Rust core can panic on crafted input, and `apply_update_safely` contains that.
    """
    doc: Doc[Any] = Doc()
    apply_update_safely(doc, state)
    return doc


def user_ids_in(value: Any) -> Iterator[str]:
    """Every user id a zone's JSON form (`read_zone`) refers to, with repeats."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in USER_REF_FIELDS and isinstance(item, str) and item:
                yield item
            elif key in USER_REF_LISTS and isinstance(item, list):
                yield from (v for v in item if isinstance(v, str) and v)
            else:
                yield from user_ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from user_ids_in(item)


def remap_user_ids(doc: Doc[Any], kind: str, mapping: Mapping[str, str]) -> int:
    """Rewrite every user-id reference found in `mapping`, in one transaction; returns how
    many fields changed (0: the document, and so its state, is untouched).

    Whole values are replaced (DESIGN §9); ids not in `mapping` stay as they are.
    """
    if all(old == new for old, new in mapping.items()):
        return 0
    changed = 0
    with doc.transaction():
        for name, root_type in ZONE_ROOTS[kind].items():
            root = get_root(doc, kind, name)
            if root_type is Map:
                changed += _remap_item(root, mapping)
            elif root_type is Array:
                for item in root:
                    if isinstance(item, Map):
                        changed += _remap_item(item, mapping)
    return changed


def _remap_item(item: Map[Any], mapping: Mapping[str, str]) -> int:
    changed = 0
    for key in USER_REF_FIELDS:
        value = item.get(key)
        if isinstance(value, str) and mapping.get(value, value) != value:
            item[key] = mapping[value]
            changed += 1
    for key in USER_REF_LISTS:
        values = item.get(key)
        if isinstance(values, Array):
            old = list(values)
            new = [mapping.get(v, v) if isinstance(v, str) else v for v in old]
            if new != old:
                set_fields(item, {key: new})
                changed += 1
    return changed
