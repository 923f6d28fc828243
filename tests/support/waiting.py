"""Waiting for what a test expects, with a generous timeout (speed is the benchmark's job)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], *, timeout: float = 10.0, what: str = ""
) -> float:
    """Poll `condition` until it holds; returns the seconds it took (for the log)."""
    started = time.monotonic()
    while True:
        result = condition()
        if inspect.isawaitable(result):  # an async condition; anything else is read as truthy
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(0.02)  # noqa: ASYNC110 (polling a condition with no event to await)
