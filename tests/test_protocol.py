from __future__ import annotations

import random

import pytest
from pycrdt import Doc, Text

from crdt.awareness import AwarenessEntry
from crdt.lib0 import MalformedFrame
from crdt.protocol import (
    PERMISSION_DENIED,
    Auth,
    Awareness,
    CloseCode,
    Message,
    MessageType,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncType,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_permission_denied,
    encode_query_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
)

BLABAER = "Blåbær 😀"
ASE_STATE = '{"user":{"name":"Åse Ødegård","color":"#e6a"}}'


def test_constants() -> None:
    assert [int(t) for t in MessageType] == [0, 1, 2, 3]
    assert (SyncType.STEP1, SyncType.STEP2, SyncType.UPDATE) == (0, 1, 2)
    assert PERMISSION_DENIED == 0
    assert {c.name: int(c) for c in CloseCode} == {
        "NORMAL": 1000,
        "GOING_AWAY": 1001,
        "RESTARTING": 1012,
        "TRY_AGAIN_LATER": 1013,
        "MALFORMED": 4400,
        "UNAUTHENTICATED": 4401,
        "FORBIDDEN": 4403,
        "NOT_FOUND": 4404,
        "UNPROCESSABLE": 4422,
        "TOO_LARGE": 4413,
    }


# Hand-computed frames: message type, [sync type], varbytes payload.
def test_sync_frames_byte_for_byte() -> None:
    assert encode_sync_step1(b"\x00") == bytes.fromhex("00 00 01 00")
    assert encode_sync_step2(b"\x00\x00") == bytes.fromhex("00 01 02 0000")
    assert encode_sync_update(b"\xab" * 200) == bytes.fromhex("0002c801") + b"\xab" * 200


def test_awareness_frame_byte_for_byte() -> None:
    # '{"name":"Åse"}' is 14 characters but 15 bytes; the inner update is 4 + 15 = 19 bytes.
    frame = encode_awareness([AwarenessEntry(1, 2, '{"name":"Åse"}')])
    assert frame == bytes.fromhex("01 13 01 01 02 0f") + '{"name":"Åse"}'.encode()
    assert frame == bytes.fromhex("01 13 01 01 02 0f 7b226e616d65223a22 c385 7365227d")


def test_query_awareness_and_permission_denied_byte_for_byte() -> None:
    assert encode_query_awareness() == b"\x03"
    assert encode_permission_denied("Åse") == bytes.fromhex("02 00 04 c385 7365")


def _sample_messages() -> list[tuple[Message, bytes]]:
    entries = (
        AwarenessEntry(3_000_000_000, 7, ASE_STATE),
        AwarenessEntry(2**53 - 1, 2**53 - 1, "null"),
        AwarenessEntry(5, 1, "{}"),
    )
    return [
        (SyncStep1(b"\x01\x8e\x04\x0c"), encode_sync_step1(b"\x01\x8e\x04\x0c")),
        (SyncStep1(b""), encode_sync_step1(b"")),
        (SyncStep2(b"\x00\x00"), encode_sync_step2(b"\x00\x00")),
        (SyncUpdate(bytes(range(256))), encode_sync_update(bytes(range(256)))),
        (Awareness(entries), encode_awareness(entries)),
        (Awareness(()), encode_awareness([])),
        (QueryAwareness(), encode_query_awareness()),
        (Auth("lesetilgang — Åse"), encode_permission_denied("lesetilgang — Åse")),
    ]


@pytest.mark.parametrize(("message", "frame"), _sample_messages())
def test_round_trip(message: Message, frame: bytes) -> None:
    assert decode_message(frame) == message


@pytest.mark.parametrize(("message", "frame"), _sample_messages())
def test_every_truncation_and_trailing_byte_is_malformed(message: Message, frame: bytes) -> None:
    for cut in range(len(frame)):
        with pytest.raises(MalformedFrame):
            decode_message(frame[:cut])
    with pytest.raises(MalformedFrame, match="trailing"):
        decode_message(frame + b"\x00")


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "empty"),
        (b"\x09", "unknown message type"),
        (b"\x09\x00\x00", "unknown message type"),
        (b"\x80\x01", "unknown message type"),  # 128, correctly encoded
        (b"\x00\x03\x00", "unknown sync"),
        (b"\x00\x09\x00", "unknown sync"),
        (b"\x02\x01\x00", "unknown auth"),
        (b"\x03\x00", "trailing"),
        (b"\x00\x00\x01\x00\x00", "trailing"),  # two messages in one frame
        (b"\x80\x80\x80\x80\x80\x80\x80\x80\x00", "longer than 8"),  # overlong type
        (b"\x00\x02\xff\xff\xff\xff\xff\xff\xff\x7f", "2\\*\\*53"),
        (b"\x02\x00\x01\xff", "UTF-8"),
        (b"\x02\x00\x02\xc3\x28", "UTF-8"),
    ],
)
def test_malformed(frame: bytes, reason: str) -> None:
    with pytest.raises(MalformedFrame, match=reason):
        decode_message(frame)


def _var_bytes(data: bytes) -> bytes:
    n, out = len(data), bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out) + data


def _awareness_frame(states: list[tuple[int, int, bytes]], count: int | None = None) -> bytes:
    """Built by hand (small ids and clocks) so it can carry states our encoder would refuse."""
    inner = bytearray([len(states) if count is None else count])
    for client_id, clock, state in states:
        inner += bytes([client_id, clock]) + _var_bytes(state)
    return bytes([MessageType.AWARENESS]) + _var_bytes(bytes(inner))


@pytest.mark.parametrize(
    "state",
    [
        b"{",
        b"",
        b"{'a': 1}",
        b"NaN",
        b'{"x": Infinity}',
        b"[" * 100 + b"]" * 100,  # valid JSON but not an object
        b"[" * 50_000 + b"]" * 50_000,  # deep enough for RecursionError in json
        b"\xff",
        b'{"a":1} {"b":2}',
        b'"text"',
        b"42",
    ],
)
def test_awareness_state_must_be_json_object_or_null(state: bytes) -> None:
    with pytest.raises(MalformedFrame) as info:
        decode_message(_awareness_frame([(1, 1, state)]))
    # No chained parser error: it would put the state text into a logged traceback.
    assert info.value.__context__ is None or info.value.__suppress_context__
    assert len(str(info.value)) < 60


def test_awareness_null_is_normalised_to_removed() -> None:
    message = decode_message(_awareness_frame([(1, 4, b" null ")]))
    assert isinstance(message, Awareness)
    assert message.entries == (AwarenessEntry(1, 4, "null"),)
    assert message.entries[0].removed


def test_awareness_keeps_state_text_verbatim() -> None:
    state = '{ "user" : {"name": "Åse Ødegård 😀"} }'
    message = decode_message(encode_awareness([AwarenessEntry(9, 1, state)]))
    assert isinstance(message, Awareness)
    assert message.entries[0].state_json == state


@pytest.mark.parametrize(
    "frame",
    [
        _awareness_frame([(1, 1, b"{}")], count=2),  # claims more entries than it has
        _awareness_frame([(1, 1, b"{}")], count=0),  # payload not consumed
        bytes([MessageType.AWARENESS]) + _var_bytes(b"\x01\x01\x01\x02{}\x00"),  # extra byte
        bytes([MessageType.AWARENESS, 1, 0x7F]),  # absurd count in a tiny payload
    ],
)
def test_awareness_payload_must_be_exact(frame: bytes) -> None:
    with pytest.raises(MalformedFrame):
        decode_message(frame)


def test_awareness_client_id_over_53_bits() -> None:
    inner = b"\x01" + bytes.fromhex("8080808080808010") + b"\x01\x02{}"
    with pytest.raises(MalformedFrame):
        decode_message(bytes([MessageType.AWARENESS]) + _var_bytes(inner))


def test_reason_never_contains_frame_content() -> None:
    secret = "diagnose F32.1 Åse"
    frames = [
        _awareness_frame([(1, 1, ('{"d":"' + secret).encode())]),
        b"\x02\x00\x30" + secret.encode(),
        b"\x00\x01\x7f" + secret.encode(),
        b"\x09" + secret.encode(),
    ]
    for frame in frames:
        with pytest.raises(MalformedFrame) as info:
            decode_message(frame)
        assert "F32" not in str(info.value)
        assert "Åse" not in str(info.value)


def test_random_bytes_only_ever_decode_or_raise_malformed() -> None:
    rng = random.Random(20240611)
    valid = [frame for _, frame in _sample_messages()]
    decoded = 0
    for i in range(5000):
        if i % 2:
            frame = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 24)))
            if i % 4 == 1 and frame:
                # Bias towards known message types so the deeper decoders get exercised.
                frame = bytes([rng.randrange(4), rng.randrange(4)]) + frame
        else:
            mutated = bytearray(rng.choice(valid))
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            frame = bytes(mutated)
        try:
            message = decode_message(frame)
        except MalformedFrame:
            continue
        decoded += 1
        assert isinstance(
            message, SyncStep1 | SyncStep2 | SyncUpdate | Awareness | QueryAwareness | Auth
        )
    assert decoded > 100


def _doc_with_text(text: str) -> tuple[Doc, Text]:
    doc: Doc = Doc()
    ytext = doc.get("t", type=Text)
    ytext += text
    return doc, ytext


def test_pycrdt_sync_round_trip_with_norwegian_text() -> None:
    server, _ = _doc_with_text(BLABAER)
    client: Doc = Doc()

    step1 = decode_message(encode_sync_step1(client.get_state()))
    assert isinstance(step1, SyncStep1)
    step2 = decode_message(encode_sync_step2(server.get_update(step1.state_vector)))
    assert isinstance(step2, SyncStep2)
    client.apply_update(step2.update)
    assert str(client.get("t", type=Text)) == BLABAER

    updates: list[bytes] = []
    subscription = server.observe(lambda event: updates.append(event.update))
    server.get("t", type=Text).insert(0, "Åse: ")
    server.unobserve(subscription)
    assert len(updates) == 1
    update = decode_message(encode_sync_update(updates[0]))
    assert isinstance(update, SyncUpdate)
    client.apply_update(update.update)
    assert str(client.get("t", type=Text)) == "Åse: " + BLABAER
    assert client.get_state() == server.get_state()
