"""In-process fan-out of small JSON events to each user's open pages (see server/sync/events.py).

Events carry ids and counts, never plan content: the page fetches what changed through
the routes that check access, so an event reaching the wrong tab leaks nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from crdt.hooks import Hook

QUEUE_LIMIT = 100
CLOSED: dict[str, Any] = {"type": "_closed"}


class EventHub:
    """In-process fan-out of small JSON events to each user's open pages.

    A subscriber too slow to drain `QUEUE_LIMIT` events is dropped (its page reconnects and
    reloads what it shows), so a stuck tab never grows memory.
    """

    def __init__(self) -> None:
        self._queues: dict[int, set[asyncio.Queue[dict[str, Any]]]] = {}
        # Each event published here, for the other nodes' pages (server/cluster/events.py).
        self.published: Hook[tuple[list[int], dict[str, Any]]] = Hook("events published")
        # Set by the cluster: a user's pages may be open on another node too.
        self.clustered = False

    @contextlib.contextmanager
    def subscribe(self, user_id: int) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.setdefault(user_id, set()).add(queue)
        try:
            yield queue
        finally:
            self._forget(user_id, queue)

    def publish(self, user_ids: Iterable[int], event: dict[str, Any]) -> int:
        """Queue `event` for every open page of each user, on every node; returns how many
        pages on this node got it."""
        users = sorted(set(user_ids))
        self.published((users, event))
        return self.deliver(users, event)

    def deliver(self, user_ids: Iterable[int], event: dict[str, Any]) -> int:
        """Queue `event` for this node's open pages of each user (another node's event)."""
        delivered = 0
        for user_id in set(user_ids):
            for queue in tuple(self._queues.get(user_id, ())):
                try:
                    queue.put_nowait(event)
                    delivered += 1
                except asyncio.QueueFull:
                    self._forget(user_id, queue)
                    self._drop(queue)
        return delivered

    def _forget(self, user_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        queues = self._queues.get(user_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[user_id]

    def subscribers(self, user_id: int) -> int:
        return len(self._queues.get(user_id, ()))

    def may_reach(self, user_id: int) -> bool:
        """Whether an event for the user may reach an open page, here or on another node
        (a caller that must read the database to make the event asks first)."""
        return self.clustered or user_id in self._queues

    def close(self) -> None:
        for queues in self._queues.values():
            for queue in queues:
                self._drop(queue)

    @staticmethod
    def _drop(queue: asyncio.Queue[dict[str, Any]]) -> None:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(CLOSED)
