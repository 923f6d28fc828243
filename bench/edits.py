"""Edits made ahead of time with pycrdt, so the load generator only sends bytes.

Each simulated person has their own `Doc` with a fixed, unique client id and never applies
anyone else's changes: every edit depends only on that person's earlier ones, so the server
can integrate each update the moment it arrives, and (client, clock) of the update's first
struct names the edit on the wire. Text carries æøå (DESIGN §9: pycrdt counts UTF-8 bytes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Map, Text, TransactionEvent

from bench.wire import EMPTY_UPDATE, update_key
from crdt.protocol import encode_sync_update

TEXT_ROOT = "t"
MAP_ROOT = "felt"


@dataclass(frozen=True, slots=True)
class Edit:
    key: tuple[int, int]
    update: bytes
    frame: bytes


def client_edits(client_id: int, count: int) -> list[Edit]:
    """`count` small edits by one person: mostly a few words typed, now and then a field set."""
    doc: Doc[Any] = Doc(client_id=client_id)
    text = doc.get(TEXT_ROOT, type=Text)
    fields = doc.get(MAP_ROOT, type=Map)
    updates: list[bytes] = []

    def capture(event: TransactionEvent) -> None:
        if event.update != EMPTY_UPDATE:
            updates.append(event.update)

    subscription = doc.observe(capture)
    for i in range(count):
        if i % 4 == 3:
            fields[f"status-{i % 8}"] = f"Pågår, økt {i} på Bø"
        else:
            text += f"æøå {client_id % 1000}.{i} "
    doc.unobserve(subscription)
    if len(updates) != count:
        raise RuntimeError(f"expected {count} updates, pycrdt emitted {len(updates)}")
    edits = []
    for update in updates:
        key = update_key(update)
        if key is None or key[0] != client_id:
            raise RuntimeError("an edit's update does not start with its own struct")
        edits.append(Edit(key, update, encode_sync_update(update)))
    return edits


def history(first_client_id: int, people: int, total: int) -> list[bytes]:
    """A zone's log as a meeting writes it: `people` typing in turn, `total` updates."""
    per_person = -(-total // people)
    streams = [client_edits(first_client_id + p, per_person) for p in range(people)]
    interleaved = [streams[i % people][i // people].update for i in range(per_person * people)]
    return interleaved[:total]


def state_of(updates: Iterable[bytes]) -> tuple[str, dict[str, Any]]:
    """The visible content after applying `updates`: what two synced replicas must agree on."""
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return content_of(doc)


def content_of(doc: Doc[Any]) -> tuple[str, dict[str, Any]]:
    return str(doc.get(TEXT_ROOT, type=Text)), dict(doc.get(MAP_ROOT, type=Map).to_py() or {})


def flatten(edits: Sequence[Sequence[Edit]]) -> list[bytes]:
    return [edit.update for person in edits for edit in person]
