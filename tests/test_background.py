"""The one way services run background work: a failed round is logged with its stack and the
loop goes on; stop cancels and waits, and gives a task asked to finish its grace period."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.core.background import BackgroundTask, Periodic
from tests.support.waiting import wait_for


async def test_a_failed_round_is_logged_and_the_next_one_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rounds: list[int] = []

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise LookupError("første runde feiler 💥")

    loop = Periodic("prøve-løkke", 0.01, work, first_delay=0)
    with caplog.at_level(logging.ERROR, logger="samplan.background"):
        loop.start()
        await wait_for(lambda: len(rounds) >= 3, what="three rounds")
        await loop.stop()
    assert "LookupError" in caplog.text and "in work" in caplog.text  # with its stack
    stopped_at = len(rounds)
    await asyncio.sleep(0.05)
    assert len(rounds) == stopped_at


async def test_stop_waits_out_the_grace_then_cancels() -> None:
    finished = asyncio.Event()
    cancelled = asyncio.Event()

    async def polite() -> None:
        await asyncio.sleep(0.01)
        finished.set()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = BackgroundTask("polite")
    task.start(polite)
    await task.stop(grace=None)
    assert finished.is_set() and not task.running
    task = BackgroundTask("stubborn")
    task.start(stubborn)
    await task.stop(grace=0.01)
    assert cancelled.is_set() and not task.running
