"""lib0 framing primitives, written here rather than borrowed from pycrdt.

pycrdt's `Encoder.write_var_string` prefixes the character count where lib0 expects the UTF-8
byte length, so any non-ASCII string it frames ("Åse Ødegård") is corrupt on the wire
(DESIGN §9). The decoder is strict because every frame comes from an untrusted socket: any
truncation, overflow or bad UTF-8 becomes one exception type the room can map to close code 4400.
"""

from __future__ import annotations

MAX_SAFE_INTEGER = 2**53 - 1
"""lib0 decodes varuints into JS numbers; anything larger loses precision in a browser peer."""

_MAX_VAR_UINT_BYTES = 8
"""8 groups of 7 bits hold 2**53 - 1; a ninth byte can only be padding or an overflow."""


class MalformedFrame(ValueError):
    """Input from a peer that does not follow the protocol.

    The message is a short fixed reason, never frame content: frames carry health data and
    reasons end up in logs and close frames.
    """


def write_var_uint(buf: bytearray, n: int) -> None:
    if n < 0 or n > MAX_SAFE_INTEGER:
        # A programming error on our side, not a peer's fault: plain ValueError.
        raise ValueError(f"varuint out of range: {n}")
    while n > 0x7F:
        buf.append(0x80 | (n & 0x7F))
        n >>= 7
    buf.append(n)


def write_var_bytes(buf: bytearray, data: bytes | bytearray) -> None:
    write_var_uint(buf, len(data))
    buf += data


def write_var_string(buf: bytearray, s: str) -> None:
    # The byte length, not len(s): this is exactly the pycrdt bug this module exists to avoid.
    data = s.encode("utf-8")
    write_var_uint(buf, len(data))
    buf += data


class Decoder:
    """Reads one frame front to back by offset, copying only the values it returns.

    Plain offsets into `bytes`, not memoryview slices: every value read is returned as an
    owned `bytes`/`str`, which costs one copy either way, and a view would only add an object
    per frame (measured: no faster).
    """

    __slots__ = ("_data", "_pos", "_end")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = bytes(data) if not isinstance(data, bytes) else data
        self._pos = 0
        self._end = len(self._data)

    def read_var_uint(self) -> int:
        data = self._data
        pos = self._pos
        if pos >= self._end:
            raise MalformedFrame("truncated varuint")
        byte = data[pos]
        if byte < 0x80:  # the common case: one byte
            self._pos = pos + 1
            return byte
        num = byte & 0x7F
        shift = 7
        limit = min(pos + _MAX_VAR_UINT_BYTES, self._end)
        pos += 1
        while pos < limit:
            byte = data[pos]
            pos += 1
            num |= (byte & 0x7F) << shift
            if byte < 0x80:
                if num > MAX_SAFE_INTEGER:
                    raise MalformedFrame("varuint exceeds 2**53-1")
                self._pos = pos
                return num
            shift += 7
        if pos < self._end:
            raise MalformedFrame("varuint longer than 8 bytes")
        raise MalformedFrame("truncated varuint")

    def _take(self, n: int) -> int:
        start = self._pos
        if n > self._end - start:
            raise MalformedFrame("truncated payload")
        self._pos = start + n
        return start

    def read_var_bytes(self) -> bytes:
        n = self.read_var_uint()
        start = self._take(n)
        return self._data[start : start + n]

    def read_var_string(self) -> str:
        n = self.read_var_uint()
        start = self._take(n)
        try:
            text = self._data[start : start + n].decode("utf-8")
        except UnicodeDecodeError:
            # `from None`: the codec error quotes the offending byte, i.e. frame content.
            raise MalformedFrame("invalid UTF-8 in string") from None
        return text

    def remaining(self) -> int:
        return self._end - self._pos

    def at_end(self) -> bool:
        return self._pos >= self._end

    def expect_end(self) -> None:
        if self._pos != self._end:
            raise MalformedFrame("trailing bytes after message")
