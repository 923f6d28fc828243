"""The (client, clock) of every struct in a Yjs v1 update, without integrating it.

Every edit the load generator sends is one struct, so the key of its first struct names it.
Most servers relay each update as it came, but Hocuspocus merges the updates that arrive in
one event-loop turn into one before broadcasting (`Document.flush` -> `Y.mergeUpdates`), so
one received frame can carry several edits, grouped by client. To tell which edits a frame
delivered, walk every struct: the layout is Yjs's `readClientsStructRefs` /
`readItemContent` (yjs 13.6, src/utils/encoding.js and src/structs/*.js). The delete set
after the structs is not read: no edit is named by it.
"""

from __future__ import annotations

_BITS5 = 0x1F
_BIT6, _BIT7, _BIT8 = 0x20, 0x40, 0x80
_GC, _SKIP = 0, 10


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uint(self) -> int:
        result, shift = 0, 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def skip_int(self) -> None:  # lib0 varInt: same continuation bit as varUint
        while self.byte() >= 0x80:
            pass

    def bytes_(self) -> bytes:
        n = self.uint()
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def string(self) -> str:
        return self.bytes_().decode("utf-8")

    def skip_any(self) -> None:
        """lib0 `readAny`: skip one value of any type."""
        tag = self.byte()
        if tag in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if tag == 125:
            self.skip_int()
        elif tag == 124:
            self.pos += 4
        elif tag in (123, 122):
            self.pos += 8
        elif tag in (119, 116):  # string, Uint8Array
            self.bytes_()
        elif tag == 118:  # object
            for _ in range(self.uint()):
                self.bytes_()
                self.skip_any()
        elif tag == 117:  # array
            for _ in range(self.uint()):
                self.skip_any()
        else:
            raise ValueError(f"unknown lib0 any tag {tag}")


def _content_length(r: _Reader, ref: int) -> int:
    """Skip an item's content; return its length in clock ticks."""
    if ref == 1:  # ContentDeleted
        return r.uint()
    if ref == 2:  # ContentJSON
        n = r.uint()
        for _ in range(n):
            r.bytes_()
        return n
    if ref == 3:  # ContentBinary
        r.bytes_()
        return 1
    if ref == 4:  # ContentString: Yjs counts UTF-16 code units
        return len(r.string().encode("utf-16-le")) // 2
    if ref == 5:  # ContentEmbed
        r.bytes_()
        return 1
    if ref == 6:  # ContentFormat: key, value
        r.bytes_()
        r.bytes_()
        return 1
    if ref == 7:  # ContentType: YXmlElement (3) and YXmlHook (5) carry a name
        if r.uint() in (3, 5):
            r.bytes_()
        return 1
    if ref == 8:  # ContentAny
        n = r.uint()
        for _ in range(n):
            r.skip_any()
        return n
    if ref == 9:  # ContentDoc: guid, options
        r.bytes_()
        r.skip_any()
        return 1
    raise ValueError(f"unknown content ref {ref}")


def struct_keys(update: bytes) -> list[tuple[int, int]]:
    """(client, clock) of every Item in `update`, in the order they are written."""
    r = _Reader(update)
    keys: list[tuple[int, int]] = []
    for _ in range(r.uint()):
        count, client, clock = r.uint(), r.uint(), r.uint()
        for _ in range(count):
            info = r.byte()
            ref = info & _BITS5
            if ref in (_GC, _SKIP):
                clock += r.uint()
                continue
            if info & _BIT8:  # origin
                r.uint(), r.uint()
            if info & _BIT7:  # right origin
                r.uint(), r.uint()
            if not info & (_BIT7 | _BIT8):  # parent written out
                if r.uint() == 1:
                    r.bytes_()  # a root type's name
                else:
                    r.uint(), r.uint()  # the parent item's id
                if info & _BIT6:
                    r.bytes_()  # parentSub: the map key
            keys.append((client, clock))
            clock += _content_length(r, ref)
    return keys
