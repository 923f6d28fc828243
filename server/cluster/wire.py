"""The bytes of one room-channel message between nodes: who sent it and when, then its records.

Binary, with the lib0 varints the sync protocol already uses, because updates are binary
and a busy room sends many: one message carries every record one event-loop turn made for
the zone (updates with their seqs, awareness changes), in order. A record the reader does
not know ends the message as malformed: a node that speaks another version is ignored, not
guessed at.

The send time (the sender's wall clock, in microseconds, written when the message is made,
before it waits in the bus's outbox) lets the receiver time the way through Redis:
`samplan_redis_lag_seconds` (server/ops/metrics.py). It is only as exact as the nodes'
clocks agree (NTP: a millisecond or so); a reading below zero counts as zero.

Version 3 added the records of forwarding (server/cluster/zones.py, with
SAMPLAN_CLUSTER_FORWARD_EDITS): an edit sent to the node that commits the zone, that node's
answer, and a node saying it holds the zone or no longer does. A message holding none of
them is written as version 2, so a cluster that does not forward can be upgraded one node at
a time as before; an older node ignores a version 3 message, so forwarding is turned on only
once every node reads it.
Older messages (version 1 without a send time, version 2) are still read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from crdt.awareness import AwarenessEntry
from crdt.lib0 import Decoder, MalformedFrame, write_var_bytes, write_var_string, write_var_uint
from crdt.protocol import Awareness, decode_message, encode_awareness

VERSION = 3
VERSION_WITHOUT_TIME = 1
VERSION_WITHOUT_FORWARDING = 2
READ_VERSIONS = (VERSION_WITHOUT_TIME, VERSION_WITHOUT_FORWARDING, VERSION)


class Kind(IntEnum):
    UPDATE = 1  # seq, update: durable on the sender
    AWARENESS = 2  # an awareness frame of the sender's local peers' states
    QUERY = 3  # "who is here?": answer with your local peers' awareness
    CATCH_UP = 4  # the sender may have lost messages: read the zone from the store
    FORWARD = 5  # node, number, author, update: an edit for `node` to commit
    FORWARDED = 6  # node, number, seq, update: the edit `node` forwarded, durable as seq
    HERE = 7  # the sender holds the zone (the answer to QUERY when it has no presence)
    LEAVE = 8  # the sender no longer holds the zone


@dataclass(frozen=True, slots=True)
class Record:
    kind: Kind
    seq: int = 0
    data: bytes = b""
    entries: tuple[AwarenessEntry, ...] = ()
    # FORWARD: the node asked to commit; FORWARDED: the node that forwarded the edit.
    node: str = ""
    number: int = 0  # the forwarding node's number for the edit
    author: int | None = None  # FORWARD: the user the forwarding node's session vouches for


def update_record(seq: int, update: bytes) -> Record:
    return Record(Kind.UPDATE, seq, update)


def awareness_record(entries: Sequence[AwarenessEntry]) -> Record:
    return Record(Kind.AWARENESS, entries=tuple(entries))


def forward_record(to: str, number: int, author: int | None, update: bytes) -> Record:
    return Record(Kind.FORWARD, data=update, node=to, number=number, author=author)


def forwarded_record(origin: str, number: int, seq: int, update: bytes) -> Record:
    """`seq` 0 and no update: the committing node held the edit already (durable now)."""
    return Record(Kind.FORWARDED, seq, update, node=origin, number=number)


QUERY = Record(Kind.QUERY)
CATCH_UP = Record(Kind.CATCH_UP)
HERE = Record(Kind.HERE)
LEAVE = Record(Kind.LEAVE)


@dataclass(frozen=True, slots=True)
class Message:
    node: str
    sent_at: float | None  # seconds since the epoch on the sender's clock; None: version 1
    records: list[Record] = field(default_factory=list)

    def lag(self, now: float | None = None) -> float | None:
        """Seconds from sending to `now` (default: this node's clock), never below zero."""
        if self.sent_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.sent_at)


def encode(node: str, records: Sequence[Record], sent_at: float | None = None) -> bytes:
    """`sent_at`: seconds since the epoch, default now."""
    forwarding = any(record.kind >= Kind.FORWARD for record in records)
    buf = bytearray((VERSION if forwarding else VERSION_WITHOUT_FORWARDING,))
    write_var_string(buf, node)
    at = time.time() if sent_at is None else sent_at
    write_var_uint(buf, max(0, round(at * 1_000_000)))
    write_var_uint(buf, len(records))
    for record in records:
        write_var_uint(buf, record.kind)
        if record.kind == Kind.UPDATE:
            write_var_uint(buf, record.seq)
            write_var_bytes(buf, record.data)
        elif record.kind == Kind.AWARENESS:
            write_var_bytes(buf, encode_awareness(record.entries))
        elif record.kind == Kind.FORWARD:
            write_var_string(buf, record.node)
            write_var_uint(buf, record.number)
            write_var_uint(buf, 0 if record.author is None else record.author + 1)
            write_var_bytes(buf, record.data)
        elif record.kind == Kind.FORWARDED:
            write_var_string(buf, record.node)
            write_var_uint(buf, record.number)
            write_var_uint(buf, record.seq)
            write_var_bytes(buf, record.data)
    return bytes(buf)


def decode(data: bytes) -> Message:
    """Raises MalformedFrame on anything this version does not write (or version 1 wrote)."""
    if not data or data[0] not in READ_VERSIONS:
        raise MalformedFrame("unknown cluster message version")
    version = data[0]
    decoder = Decoder(memoryview(data)[1:])
    node = decoder.read_var_string()
    sent_at = decoder.read_var_uint() / 1_000_000 if version != VERSION_WITHOUT_TIME else None
    records: list[Record] = []
    for _ in range(decoder.read_var_uint()):
        kind = decoder.read_var_uint()
        if kind == Kind.UPDATE:
            seq = decoder.read_var_uint()
            records.append(Record(Kind.UPDATE, seq, decoder.read_var_bytes()))
        elif kind == Kind.AWARENESS:
            message = decode_message(decoder.read_var_bytes())
            if not isinstance(message, Awareness):
                raise MalformedFrame("not an awareness frame")
            records.append(Record(Kind.AWARENESS, entries=message.entries))
        elif kind == Kind.QUERY:
            records.append(QUERY)
        elif kind == Kind.CATCH_UP:
            records.append(CATCH_UP)
        elif version < VERSION:
            raise MalformedFrame("unknown cluster record")
        elif kind == Kind.FORWARD:
            to, number, author = decoder.read_var_string(), decoder.read_var_uint(), None
            author_plus_one = decoder.read_var_uint()
            if author_plus_one:
                author = author_plus_one - 1
            records.append(forward_record(to, number, author, decoder.read_var_bytes()))
        elif kind == Kind.FORWARDED:
            origin, number, seq = (
                decoder.read_var_string(),
                decoder.read_var_uint(),
                decoder.read_var_uint(),
            )
            records.append(forwarded_record(origin, number, seq, decoder.read_var_bytes()))
        elif kind == Kind.HERE:
            records.append(HERE)
        elif kind == Kind.LEAVE:
            records.append(LEAVE)
        else:
            raise MalformedFrame("unknown cluster record")
    decoder.expect_end()
    return Message(node, sent_at, records)
