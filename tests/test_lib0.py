"""Byte-for-byte lib0 vectors, worked out by hand from lib0's encoding.js (7-bit groups,
little-endian, high bit = more; strings prefixed by their UTF-8 byte length)."""

from __future__ import annotations

import pytest

from crdt.lib0 import (
    MAX_SAFE_INTEGER,
    Decoder,
    MalformedFrame,
    write_var_bytes,
    write_var_string,
    write_var_uint,
)

VAR_UINT_VECTORS = [
    (0, "00"),
    (1, "01"),
    (127, "7f"),
    (128, "8001"),
    (300, "ac02"),
    (16383, "ff7f"),
    (16384, "808001"),
    (2**32, "8080808010"),
    (2**53 - 1, "ffffffffffffff0f"),
]

# "Åse Ødegård": 11 characters, 14 UTF-8 bytes (Å, Ø, å take two each).
ASE = "Åse Ødegård"
ASE_FRAMED = "0e c385 736520 c398 646567 c3a5 7264"
# "Blåbær 😀": 8 characters (9 UTF-16 units), 13 UTF-8 bytes; the emoji is f0 9f 98 80.
BLABAER = "Blåbær 😀"
BLABAER_FRAMED = "0d 426c c3a5 62 c3a6 72 20 f09f9880"


@pytest.mark.parametrize(("n", "hex_"), VAR_UINT_VECTORS)
def test_var_uint_vectors(n: int, hex_: str) -> None:
    buf = bytearray()
    write_var_uint(buf, n)
    assert buf.hex() == hex_
    decoder = Decoder(bytes.fromhex(hex_))
    assert decoder.read_var_uint() == n
    assert decoder.at_end()


@pytest.mark.parametrize("n", [-1, 2**53, 2**64])
def test_write_var_uint_rejects_out_of_range(n: int) -> None:
    with pytest.raises(ValueError):
        write_var_uint(bytearray(), n)


@pytest.mark.parametrize(
    ("text", "hex_"),
    [(ASE, ASE_FRAMED), (BLABAER, BLABAER_FRAMED), ("", "00"), ("😀", "04f09f9880")],
)
def test_var_string_uses_utf8_byte_length(text: str, hex_: str) -> None:
    buf = bytearray()
    write_var_string(buf, text)
    assert bytes(buf) == bytes.fromhex(hex_)
    decoder = Decoder(bytes(buf))
    assert decoder.read_var_string() == text
    decoder.expect_end()


def test_var_bytes_round_trip() -> None:
    payload = bytes(range(256)) * 2
    buf = bytearray()
    write_var_bytes(buf, payload)
    assert buf[:2].hex() == "8004"  # 512
    decoder = Decoder(bytes(buf))
    assert decoder.read_var_bytes() == payload
    assert decoder.remaining() == 0


def test_sequence_and_remaining() -> None:
    buf = bytearray()
    write_var_uint(buf, 16384)
    write_var_string(buf, ASE)
    write_var_bytes(buf, b"\x00\xff")
    decoder = Decoder(bytes(buf))
    assert decoder.remaining() == len(buf)
    assert decoder.read_var_uint() == 16384
    assert decoder.read_var_string() == ASE
    assert not decoder.at_end()
    assert decoder.read_var_bytes() == b"\x00\xff"
    decoder.expect_end()


def test_accepts_bytearray_and_memoryview() -> None:
    assert Decoder(bytearray(b"\x80\x01")).read_var_uint() == 128
    assert Decoder(memoryview(b"\x02hi")).read_var_string() == "hi"


@pytest.mark.parametrize(
    "hex_",
    [
        "",  # nothing at all
        "80",  # continuation with no next byte
        "ffff",
        "ffffffffffffff",  # 7 continuation bytes, then the end
    ],
)
def test_truncated_var_uint(hex_: str) -> None:
    with pytest.raises(MalformedFrame):
        Decoder(bytes.fromhex(hex_)).read_var_uint()


def test_var_uint_above_53_bits() -> None:
    with pytest.raises(MalformedFrame, match="2\\*\\*53"):
        Decoder(bytes.fromhex("8080808080808010")).read_var_uint()  # 2**53


def test_overlong_var_uint() -> None:
    # Nine bytes: more than 8 groups can never be a safe integer, even if it is zero padding.
    with pytest.raises(MalformedFrame, match="longer than 8"):
        Decoder(bytes.fromhex("808080808080808000")).read_var_uint()
    with pytest.raises(MalformedFrame):
        Decoder(b"\xff" * 20).read_var_uint()


def test_max_safe_integer_constant() -> None:
    assert MAX_SAFE_INTEGER == 9007199254740991


def test_truncated_var_bytes_and_string() -> None:
    with pytest.raises(MalformedFrame):
        Decoder(b"\x03ab").read_var_bytes()
    with pytest.raises(MalformedFrame):
        Decoder(b"\x03ab").read_var_string()
    with pytest.raises(MalformedFrame):
        # A length in the billions must fail fast, not allocate.
        Decoder(bytes.fromhex("ffffffff0f") + b"x").read_var_bytes()


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",  # never valid
        b"\xc3",  # truncated two-byte sequence (Å cut in half)
        b"\xc0\x80",  # overlong NUL
        b"\xed\xa0\x80",  # UTF-16 surrogate encoded as UTF-8
        b"\xf0\x9f\x98",  # emoji missing its last byte
    ],
)
def test_invalid_utf8(raw: bytes) -> None:
    frame = bytes([len(raw)]) + raw
    with pytest.raises(MalformedFrame) as info:
        Decoder(frame).read_var_string()
    assert info.value.__suppress_context__
    assert raw.hex() not in str(info.value)


def test_expect_end_rejects_trailing_bytes() -> None:
    decoder = Decoder(b"\x05\x00")
    assert decoder.read_var_uint() == 5
    with pytest.raises(MalformedFrame):
        decoder.expect_end()


def test_malformed_frame_is_a_value_error() -> None:
    assert issubclass(MalformedFrame, ValueError)
