"""ruff over the whole repository, in the suite so CI runs it: its rules are the ones
pyproject.toml selects, among them the ban on `asyncio.wait_for`, which on Python 3.11
swallows a cancel that arrives as the awaited thing completes (a stop that cancels a task
could wait for ever). The second test shows that flaw, and that the bench's `within` does
not have it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bench.wire import within

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).parent / "ruff"


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff_passes(command: list[str]) -> None:
    done = subprocess.run(
        [str(RUFF), *command, "."], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def _cancelled_as_it_completes(wait: str) -> bool:
    """Whether a task cancelled in the same turn as the future it waits on completes ends
    cancelled (True), or goes on as if nothing was asked of it (False)."""
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waiter() -> None:
        if wait == "wait_for":
            await asyncio.wait_for(future, 10)
        else:
            await within(future, 10)
        await asyncio.sleep(0.05)  # "going on": the scenario after the joins

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    future.set_result("synkronisert ✅ æøå")
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


async def test_within_passes_a_cancel_on_where_wait_for_swallows_it() -> None:
    assert await _cancelled_as_it_completes("within")
    if sys.version_info < (3, 12):
        assert not await _cancelled_as_it_completes("wait_for")  # the reason for the ban
