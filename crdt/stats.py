"""What the relay counts and times, kept as plain numbers on the hot path.

`/metrics` (server/ops/metrics.py) reads these at scrape time and writes them out in the
Prometheus format. The relay pays an integer add per update and one `bisect` per timing: no
lock (everything here runs on the event loop), no label look-up, no call into a metrics
library per delivery. The relay of one update to N peers costs the same with metrics on as
off (issue 16: CPU per delivery at the floor).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# Upper bounds, in seconds, of the buckets a latency falls in: from well under one durable
# commit (~0.2-1 ms on a local disk) to a stall nobody should ever see.
LATENCY_BOUNDS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class Timings:
    """A fixed-bucket histogram of durations in seconds, cheap enough for the relay: one
    `bisect` and two adds per observation. `counts[i]` holds the observations at most
    `bounds[i]` and above the bound before it; the last holds those above every bound."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = LATENCY_BOUNDS) -> None:
        self.bounds = tuple(bounds)
        if list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError("bounds must be strictly increasing")
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at most that) per bucket, the last bound infinite:
        the form a Prometheus histogram is written in."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


class RelayStats:
    """Counters and timings of one registry's rooms (one per server process).

    `received`: updates writers sent (sync step 2 or update messages from a peer allowed to
    write, before they are applied); `relayed`: updates made durable and relayed; `deliveries`:
    relayed updates handed to peers, one per (update, peer) (sent, or queued behind a send
    under way); `frames`: the frames that carried them (a durable batch's updates go to a peer
    merged into one frame);
    `fanout`: from a writer's frame read off its socket (or a server-side edit) to the relay
    of the change it made handed to the last peer."""

    __slots__ = ("received", "relayed", "deliveries", "frames", "fanout")

    def __init__(self) -> None:
        self.received = 0
        self.relayed = 0
        self.deliveries = 0
        self.frames = 0
        self.fanout = Timings()
