"""The bytes of one room-channel message between nodes: who sent it, then its records.

Binary, with the lib0 varints the sync protocol already uses, because updates are binary
and a busy room sends many: one message carries every record one event-loop turn made for
the zone (updates with their seqs, awareness changes), in order. A record the reader does
not know ends the message as malformed: a node that speaks another version is ignored, not
guessed at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from crdt.awareness import AwarenessEntry
from crdt.lib0 import Decoder, MalformedFrame, write_var_bytes, write_var_string, write_var_uint
from crdt.protocol import Awareness, decode_message, encode_awareness

VERSION = 1


class Kind(IntEnum):
    UPDATE = 1  # seq, update: durable on the sender
    AWARENESS = 2  # an awareness frame of the sender's local peers' states
    QUERY = 3  # "who is here?": answer with your local peers' awareness
    CATCH_UP = 4  # the sender may have lost messages: read the zone from the store


@dataclass(frozen=True, slots=True)
class Record:
    kind: Kind
    seq: int = 0
    data: bytes = b""
    entries: tuple[AwarenessEntry, ...] = ()


def update_record(seq: int, update: bytes) -> Record:
    return Record(Kind.UPDATE, seq, update)


def awareness_record(entries: Sequence[AwarenessEntry]) -> Record:
    return Record(Kind.AWARENESS, entries=tuple(entries))


QUERY = Record(Kind.QUERY)
CATCH_UP = Record(Kind.CATCH_UP)


def encode(node: str, records: Sequence[Record]) -> bytes:
    buf = bytearray((VERSION,))
    write_var_string(buf, node)
    write_var_uint(buf, len(records))
    for record in records:
        write_var_uint(buf, record.kind)
        if record.kind == Kind.UPDATE:
            write_var_uint(buf, record.seq)
            write_var_bytes(buf, record.data)
        elif record.kind == Kind.AWARENESS:
            write_var_bytes(buf, encode_awareness(record.entries))
    return bytes(buf)


def decode(data: bytes) -> tuple[str, list[Record]]:
    """Raises MalformedFrame on anything this version does not write."""
    if not data or data[0] != VERSION:
        raise MalformedFrame("unknown cluster message version")
    decoder = Decoder(memoryview(data)[1:])
    node = decoder.read_var_string()
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
        else:
            raise MalformedFrame("unknown cluster record")
    decoder.expect_end()
    return node, records
