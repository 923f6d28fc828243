"""The bench's stall tracer names what held the event loop (issue 16): the probe on /metrics
says only that it stalled."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

from server.ops.stall_trace import StallTrace

log = logging.getLogger("tests.stall_trace")


def _hold_the_loop_for_åse_ødegård(seconds: float) -> None:
    """Pure Python that keeps the GIL-holding main thread busy, as a slow callback would."""
    end = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < end:
        total += sum(range(100))


async def test_a_slow_callback_is_named_with_its_stack(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stalls 😀.jsonl"
    trace = StallTrace(path, threshold=0.003)
    trace.install()
    try:
        loop = asyncio.get_running_loop()
        loop.call_soon(_hold_the_loop_for_åse_ødegård, 0.03)
        await asyncio.sleep(0.05)
        await asyncio.to_thread(lambda: None)  # another thread's loop work is not traced
    finally:
        trace.uninstall()
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    log.info("trace records: %s", records)
    slow = [r for r in records if r.get("what") == "_hold_the_loop_for_åse_ødegård"]
    assert len(slow) == 1, records
    assert slow[0]["ms"] >= 30 and slow[0]["cpu_ms"] > 0
    stacks = [stack for stack, _ in slow[0]["stacks"]]
    assert stacks and all("_hold_the_loop_for_åse_ødegård" in stack for stack in stacks), stacks
    assert asyncio.events.Handle._run is not None  # put back: later callbacks run untraced
    assert "stall_trace" not in getattr(asyncio.events.Handle._run, "__module__", "")
