"""The long-running tasks of the server's services, started and stopped one way.

Every service that works in the background (the access watcher, the audit writer, the e-mail
sender, reminders, daily versions) owns one `BackgroundTask` or `Periodic`, so a stop never
leaves a task running into a closed database, and a failed round is logged with its stack
instead of ending the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("samplan.background")


class BackgroundTask:
    """One named task: started at most once at a time, stopped by cancelling it (after an
    optional grace period for a task that was asked to finish by itself)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(work(), name=self.name)

    async def stop(self, grace: float | None = 0.0) -> None:
        """Wait up to `grace` seconds (None: until it ends) for the task to finish, then
        cancel it and wait for that."""
        task, self._task = self._task, None
        if task is None:
            return
        if grace is None or grace > 0:
            await asyncio.wait([task], timeout=grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception:
                log.error("%s ended with an error", self.name, exc_info=True)


class Periodic:
    """`work` every `interval` seconds, the first time after `first_delay` (default: one
    interval). A failed round is logged and the next comes as planned: the database may be
    away for a while. An interval of 0 or less turns it off (tests drive rounds by hand).
    `rounds` counts the rounds that ended, failed or not, so a caller can wait for the
    start-up round instead of racing it."""

    def __init__(
        self,
        name: str,
        interval: float,
        work: Callable[[], Awaitable[object]],
        *,
        first_delay: float | None = None,
    ) -> None:
        self.interval = interval
        self.first_delay = interval if first_delay is None else first_delay
        self._work = work
        self._task = BackgroundTask(name)
        self.rounds = 0

    def start(self) -> None:
        if self.interval > 0:
            self._task.start(self._loop)

    async def stop(self) -> None:
        await self._task.stop()

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            try:
                await self._work()
            except Exception:
                log.error("%s: a round failed", self._task.name, exc_info=True)
            self.rounds += 1
            await asyncio.sleep(self.interval)
