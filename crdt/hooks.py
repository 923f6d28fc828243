"""Subscriber lists for what a room registry announces (a room loaded, committed, compacted).

A list rather than one slot: the notification watcher, the summaries and (later) a cluster
fan-out each subscribe to the same event, and a second subscriber must never silently replace
the first. One subscriber that raises is logged with its stack and does not keep the others,
or the write path that called them, from going on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("samplan.hooks")

T = TypeVar("T")


class Hook(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: list[Callable[[T], None]] = []

    def subscribe(self, subscriber: Callable[[T], None]) -> None:
        self._subscribers.append(subscriber)

    def __call__(self, value: T) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(value)
            except Exception:
                log.error(
                    "hook %s: subscriber %s failed",
                    self.name,
                    getattr(subscriber, "__qualname__", "?"),
                    exc_info=True,
                )
