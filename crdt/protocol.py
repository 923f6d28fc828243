"""The y-websocket / y-protocols messages, and every wire constant Samplan uses.

The decoder accepts exactly one message per frame: the y-websocket client sends one per
WebSocket message, so anything after it is either a bug or an attempt to smuggle bytes past
checks that look only at the first message. Reasons in `MalformedFrame` are fixed strings,
never frame content, because frames carry health data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NoReturn

from pycrdt import merge_updates

from crdt.awareness import REMOVED_STATE, AwarenessEntry
from crdt.lib0 import (
    Decoder,
    MalformedFrame,
    write_var_bytes,
    write_var_string,
    write_var_uint,
)

__all__ = [
    "Auth",
    "AuthType",
    "Awareness",
    "AwarenessEntry",
    "CloseCode",
    "MalformedFrame",
    "Message",
    "MessageType",
    "PERMISSION_DENIED",
    "QueryAwareness",
    "SyncStep1",
    "SyncStep2",
    "SyncType",
    "SyncUpdate",
    "decode_message",
    "encode_awareness",
    "encode_permission_denied",
    "encode_query_awareness",
    "encode_sync_step1",
    "encode_sync_step2",
    "encode_sync_update",
]


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


class AuthType(IntEnum):
    PERMISSION_DENIED = 0


PERMISSION_DENIED = AuthType.PERMISSION_DENIED


class CloseCode(IntEnum):
    """The y-websocket client stops reconnecting on 4400-4499, so those are final answers;
    1001/1012/1013 make it retry with back-off."""

    NORMAL = 1000
    GOING_AWAY = 1001
    RESTARTING = 1012
    TRY_AGAIN_LATER = 1013
    MALFORMED = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    TOO_LARGE = 4413
    # The update would break the zone's shapes (crdt/shape_guard.py): refused, never stored.
    # Final, so the client does not resend it; the page reloads the zone from the server.
    UNPROCESSABLE = 4422


@dataclass(frozen=True, slots=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    update: bytes


@dataclass(frozen=True, slots=True)
class Awareness:
    entries: tuple[AwarenessEntry, ...]


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    pass


@dataclass(frozen=True, slots=True)
class Auth:
    denied_reason: str


Message = SyncStep1 | SyncStep2 | SyncUpdate | Awareness | QueryAwareness | Auth

_QUERY_AWARENESS = QueryAwareness()
_QUERY_AWARENESS_FRAME = bytes([MessageType.QUERY_AWARENESS])


def decode_message(frame: bytes) -> Message:
    decoder = Decoder(frame)
    if decoder.at_end():
        raise MalformedFrame("empty frame")
    kind = decoder.read_var_uint()
    message: Message
    if kind == MessageType.SYNC:
        message = _decode_sync(decoder)
    elif kind == MessageType.AWARENESS:
        message = Awareness(_decode_awareness_update(decoder.read_var_bytes()))
    elif kind == MessageType.AUTH:
        if decoder.read_var_uint() != AuthType.PERMISSION_DENIED:
            raise MalformedFrame("unknown auth message type")
        message = Auth(decoder.read_var_string())
    elif kind == MessageType.QUERY_AWARENESS:
        message = _QUERY_AWARENESS
    else:
        raise MalformedFrame("unknown message type")
    decoder.expect_end()
    return message


def _decode_sync(decoder: Decoder) -> SyncStep1 | SyncStep2 | SyncUpdate:
    sync_type = decoder.read_var_uint()
    if sync_type == SyncType.STEP1:
        return SyncStep1(decoder.read_var_bytes())
    if sync_type == SyncType.STEP2:
        return SyncStep2(decoder.read_var_bytes())
    if sync_type == SyncType.UPDATE:
        return SyncUpdate(decoder.read_var_bytes())
    raise MalformedFrame("unknown sync message type")


def _reject_constant(_name: str) -> NoReturn:
    # Python's json accepts NaN/Infinity; JSON.parse in every browser peer does not.
    raise MalformedFrame("awareness state is not valid JSON")


def _decode_awareness_update(payload: bytes) -> tuple[AwarenessEntry, ...]:
    decoder = Decoder(payload)
    count = decoder.read_var_uint()
    # Each entry takes at least 3 bytes: refuse an absurd count before looping over it.
    if count > decoder.remaining() // 3:
        raise MalformedFrame("truncated awareness update")
    entries: list[AwarenessEntry] = []
    for _ in range(count):
        client_id = decoder.read_var_uint()
        clock = decoder.read_var_uint()
        state_json = decoder.read_var_string()
        try:
            state = json.loads(state_json, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            # RecursionError: deeply nested arrays. `from None`: the parser's error would
            # carry the state text into any logged traceback.
            raise MalformedFrame("awareness state is not valid JSON") from None
        if state is None:
            # " null " removes the client too; normalise so `AwarenessEntry.removed` sees it.
            state_json = REMOVED_STATE
        elif not isinstance(state, dict):
            # y-protocols states are objects or null; anything else is not a Yjs client.
            raise MalformedFrame("awareness state is not an object")
        entries.append(AwarenessEntry(client_id, clock, state_json))
    decoder.expect_end()
    return tuple(entries)


def _sync_frame(sync_type: SyncType, payload: bytes) -> bytes:
    buf = bytearray((MessageType.SYNC, sync_type))
    write_var_bytes(buf, payload)
    return bytes(buf)


def encode_sync_step1(state_vector: bytes) -> bytes:
    return _sync_frame(SyncType.STEP1, state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    return _sync_frame(SyncType.STEP2, update)


def encode_sync_update(update: bytes) -> bytes:
    return _sync_frame(SyncType.UPDATE, update)


# At most this many updates in one merge. pycrdt's merge costs more per update the more it
# merges (0.8 µs each for 50, 1.8 for 300, 4.9 for 1,000): a batch merged whole made a
# backlogged room's relay dearer per update the longer its batches grew, and its batches grew
# the slower it relayed; past 5,800 edits/s into one room it fell ever further behind
# (docs/BENCHMARKS.md, "Saturation").
MERGE_AT_MOST = 50


def encode_merged_sync_updates(updates: Sequence[bytes]) -> list[bytes]:
    """Sync-update frames holding `updates` in order: each the merge of up to MERGE_AT_MOST
    of them (pycrdt's, the same format as Yjs's `Y.mergeUpdates`), which a Yjs client
    applies as the updates it holds. One frame for several updates is one send per peer
    instead of several; a small batch is one frame."""
    return [
        _sync_frame(SyncType.UPDATE, chunk[0] if len(chunk) == 1 else merge_updates(*chunk))
        for chunk in (updates[i : i + MERGE_AT_MOST] for i in range(0, len(updates), MERGE_AT_MOST))
    ]


def encode_awareness(entries: Iterable[AwarenessEntry]) -> bytes:
    entries = tuple(entries)
    inner = bytearray()
    write_var_uint(inner, len(entries))
    for entry in entries:
        write_var_uint(inner, entry.client_id)
        write_var_uint(inner, entry.clock)
        write_var_string(inner, entry.state_json)
    buf = bytearray((MessageType.AWARENESS,))
    write_var_bytes(buf, inner)
    return bytes(buf)


def encode_query_awareness() -> bytes:
    return _QUERY_AWARENESS_FRAME


def encode_permission_denied(reason: str) -> bytes:
    buf = bytearray((MessageType.AUTH, AuthType.PERMISSION_DENIED))
    write_var_string(buf, reason)
    return bytes(buf)
