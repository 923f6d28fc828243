"""Scheduled work once per cluster: a leader lease in Redis (SET NX PX, renewed).

The reminders, the daily versions and the e-mail outbox are each safe to run twice (their
dedupe keys, unique days and row leases say so), but running them on every node multiplies
the work and the database load by the number of nodes. So one node holds a lease and runs
them; the others wait. The lease is renewed every third of its lifetime only while the key
still names this node (a compare-and-renew in Lua); a leader that cannot renew in time stops
its jobs before the lease can have passed to another node, and one that stops cleanly gives
the lease up at once, so a follower takes over within a renewal interval. A SIGKILLed
leader's lease lapses after `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.core.background import BackgroundTask

log = logging.getLogger("samplan.cluster.leader")

LEASE_SECONDS = 6.0

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Job(Protocol):
    """A scheduled service: Reminders, DailyVersions, EmailSender."""

    def start(self) -> None: ...

    def stop(self) -> Awaitable[None]: ...


class LeaderLease:
    def __init__(
        self,
        redis: Redis,
        node_id: str,
        jobs: Sequence[Job],
        *,
        key: str = "samplan:leader",
        ttl: float = LEASE_SECONDS,
    ) -> None:
        self.redis = redis
        self.node_id = node_id
        self.jobs = list(jobs)
        self.key = key
        self.ttl = ttl
        self.leading = False
        self.terms = 0  # how often this node became the leader
        self._renewed = 0.0
        self._task = BackgroundTask("cluster-leader")

    def start(self) -> None:
        self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()
        if self.leading:
            await self._step_down("stopping")
            try:
                await self.redis.eval(RELEASE_IF_OURS, 1, self.key, self.node_id)
            except (RedisError, OSError):
                pass  # it lapses by itself

    async def _run(self) -> None:
        while True:
            try:
                await self._round()
            except (RedisError, OSError) as exc:
                log.warning("leader lease: Redis unavailable (%s)", type(exc).__name__)
            if self.leading and time.monotonic() - self._renewed > self.ttl * 2 / 3:
                # Not renewed in time: another node may hold it soon. Stop first.
                await self._step_down("lease not renewed in time")
            await asyncio.sleep(self.ttl / 3)

    async def _round(self) -> None:
        ms = int(self.ttl * 1000)
        if self.leading:
            if await self.redis.eval(_RENEW, 1, self.key, self.node_id, ms):
                self._renewed = time.monotonic()
            else:
                await self._step_down("lease taken over")
            return
        if await self.redis.set(self.key, self.node_id, nx=True, px=ms):
            self._renewed = time.monotonic()
            self.leading = True
            self.terms += 1
            log.info("node %s leads the scheduled work", self.node_id)
            for job in self.jobs:
                job.start()

    async def _step_down(self, why: str) -> None:
        self.leading = False
        log.info("node %s no longer leads the scheduled work: %s", self.node_id, why)
        for job in self.jobs:
            try:
                await job.stop()
            except Exception:
                log.error("stopping a scheduled job failed", exc_info=True)
