"""How late the event loop wakes up: the one figure that shows a stall of the relay.

Everything a node does for its clients runs on one event loop; a callback that holds it for
50 ms (a compaction encoding a snapshot, a garbage collection, a large summary) delays every
relay by that much, which no per-request timing shows. The probe asks to be woken every
`interval` seconds and records how late the wake-up came (issue 16). A stall of S seconds is
seen as at least S minus one interval, so the probe's own resolution is the interval; it
costs one timer per interval (50 a second by default, a few microseconds each).
"""

from __future__ import annotations

import asyncio

from crdt.stats import Timings
from server.core.background import BackgroundTask

PROBE_INTERVAL_SECONDS = 0.02
# From just over the loop's own timer jitter to a stall everybody notices.
LAG_BOUNDS: tuple[float, ...] = (
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
    5.0,
)


class LoopLagProbe:
    def __init__(self, interval: float = PROBE_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.lag = Timings(LAG_BOUNDS)
        self._max = 0.0
        self._task = BackgroundTask("loop-lag-probe")

    def start(self) -> None:
        self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()

    def take_max(self) -> float:
        """The longest lag since the last call (or since start), and start a new period: a
        scrape reads the worst stall between two scrapes, however short it was."""
        worst, self._max = self._max, 0.0
        return worst

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            late = loop.time() - due
            if late < 0.0:
                late = 0.0
            self.lag.observe(late)
            if late > self._max:
                self._max = late
