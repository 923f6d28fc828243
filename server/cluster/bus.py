"""One node's connection to Redis: publishing, one subscriber connection, node heartbeats.

Publishing is fire-and-forget for the caller (the relay path never waits for Redis) but
ordered: one task drains a queue and sends what one turn queued as one pipeline, so a room's
messages reach the other nodes in commit order. Subscribing returns once Redis confirmed
it, so a room that subscribes before it reads the database misses nothing (DESIGN §6).

Redis pub/sub forgets what a subscriber was not there to hear. So the bus keeps no silent
reconnects (redis-py's own retries are off): when the subscriber connection drops, or goes
quiet (every node hears its own heartbeat each second, so silence means a dead link), it
reconnects with back-off, subscribes everything again and announces `reconnected`, and the
rooms catch up from the database. A publish that failed is followed, once Redis answers
again, by a catch-up notice on the channels it lost, so the other nodes read what they missed.

Every node publishes a heartbeat each second on the nodes channel; a node not heard from for
`node_timeout` seconds is announced `node_gone` (its clients' presence is removed), and a
node that stops cleanly says goodbye first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from crdt.hooks import Hook
from server.core.background import BackgroundTask

log = logging.getLogger("samplan.cluster")

Handler = Callable[[bytes], None]

HEARTBEAT_SECONDS = 1.0
NODE_TIMEOUT_SECONDS = 4.0
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
RECONNECT_MAX_SECONDS = 5.0


class Bus:
    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        prefix: str = "samplan:",
        heartbeat: float = HEARTBEAT_SECONDS,
        node_timeout: float = NODE_TIMEOUT_SECONDS,
    ) -> None:
        self.node_id = node_id
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.node_timeout = node_timeout
        # No retries inside redis-py: a reconnect it hid would hide lost messages too.
        self.redis: Redis = Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            decode_responses=False,
        )
        self.nodes_channel = self.channel("nodes")
        self.connected = False
        self._up = asyncio.Event()  # set on the first subscription's confirmation
        self.reconnected: Hook[None] = Hook("bus reconnected")
        self.node_gone: Hook[str] = Hook("node gone")
        self.node_seen: Hook[str] = Hook("node seen")
        self.last_seen: dict[str, float] = {}
        self.reconnects = 0  # subscriber connections made again after the first
        self.late_subscriptions = 0  # confirmed only after SUBSCRIBE_TIMEOUT_SECONDS, or never
        self._handlers: dict[bytes, Handler] = {self.nodes_channel: self._on_node}
        self._confirmations: dict[bytes, list[asyncio.Future[None]]] = {}
        self._pubsub: PubSub | None = None
        self._outbox: list[tuple[bytes, bytes]] = []
        self._lost: set[bytes] = set()  # channels whose messages a failed publish dropped
        self._wake_publisher = asyncio.Event()
        self._commands: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._heard = time.monotonic()
        self._reader = BackgroundTask("cluster-subscriber")
        self._publisher = BackgroundTask("cluster-publisher")
        self._subscriber_commands = BackgroundTask("cluster-subscriptions")
        self._beat = BackgroundTask("cluster-heartbeat")
        self.on_lost: Callable[[bytes], bytes | None] | None = None  # catch-up notice

    def channel(self, name: str) -> bytes:
        return f"{self.prefix}{name}".encode()

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and listen; returns once subscribed (or, with Redis away, at once: the
        reader keeps trying, and the node serves alone meanwhile)."""
        self._reader.start(self._read_forever)
        self._publisher.start(self._publish_forever)
        self._subscriber_commands.start(self._run_commands)
        self._beat.start(self._beat_forever)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await self._up.wait()

    async def stop(self) -> None:
        if self.connected:
            self.publish(self.nodes_channel, self._node_message("bye"))
            await self._drain_outbox()
        await self._beat.stop()
        await self._subscriber_commands.stop()
        await self._reader.stop()
        await self._publisher.stop()
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self.redis.aclose()

    # -- publishing ------------------------------------------------------------------------

    def publish(self, channel: bytes, data: bytes) -> None:
        """Queue a message; the publisher sends it in order with whatever else is queued."""
        self._outbox.append((channel, data))
        self._wake_publisher.set()

    async def _publish_forever(self) -> None:
        while True:
            await self._wake_publisher.wait()
            self._wake_publisher.clear()
            await self._drain_outbox()

    async def _drain_outbox(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            if self._lost and self.on_lost is not None:
                notices = [(ch, self.on_lost(ch)) for ch in sorted(self._lost)]
                batch = [(ch, data) for ch, data in notices if data is not None] + batch
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
                self._lost.clear()
            except (RedisError, OSError) as exc:
                self._lost.update(ch for ch, _ in batch if ch != self.nodes_channel)
                log.warning(
                    "cluster publish of %d messages failed: %s", len(batch), type(exc).__name__
                )
                await asyncio.sleep(0.5)
                return

    # -- subscribing -----------------------------------------------------------------------

    async def subscribe(
        self, channel: bytes, handler: Handler, *, late: Callable[[], None] | None = None
    ) -> None:
        """Deliver the channel's messages to `handler`; return once Redis confirmed (at once
        while disconnected: the reconnect subscribes it and announces `reconnected`).

        A Redis that answers slowly must not hold a room's load for ever: past
        SUBSCRIBE_TIMEOUT_SECONDS this returns anyway, and `late` is called when the
        confirmation comes after all (or the connection drops). Until then messages on the
        channel were not heard, so the caller reads again what it read meanwhile."""
        self._handlers[channel] = handler
        if not self.connected:
            return
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault(channel, []).append(confirmed)
        self._commands.put_nowait(("subscribe", channel))
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await asyncio.shield(confirmed)
        except TimeoutError:
            log.warning("cluster: no confirmation of a subscription in time")
            self.late_subscriptions += 1
            if late is not None:
                confirmed.add_done_callback(lambda _: late())

    def unsubscribe(self, channel: bytes) -> None:
        if self._handlers.pop(channel, None) is not None and self.connected:
            self._commands.put_nowait(("unsubscribe", channel))

    async def _run_commands(self) -> None:
        """Subscriptions in the order they were asked for (an unsubscribe queued before a
        subscribe of the same channel must reach Redis first)."""
        while True:
            command, channel = await self._commands.get()
            pubsub = self._pubsub
            if pubsub is None or not self.connected:
                continue  # the reconnect subscribes whatever has a handler then
            if command == "subscribe" and channel not in self._handlers:
                continue  # closed again meanwhile
            if command == "unsubscribe" and channel in self._handlers:
                continue  # opened again meanwhile
            try:
                if command == "subscribe":
                    await pubsub.subscribe(channel)
                else:
                    await pubsub.unsubscribe(channel)
            except (RedisError, OSError) as exc:
                log.warning("cluster %s failed: %s", command, type(exc).__name__)

    async def _read_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._connect_and_read()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("cluster: Redis connection lost (%s); reconnecting", type(exc).__name__)
            except Exception:
                log.error("cluster: subscriber failed; reconnecting", exc_info=True)
            if self.connected:
                delay = 0.1  # it worked until now: try again soon, then back off
            self._disconnected()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _connect_and_read(self) -> None:
        pubsub = self.redis.pubsub()
        self._pubsub = pubsub
        channels = list(self._handlers)
        await pubsub.subscribe(*channels)
        waiting = set(channels)
        self._heard = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=self.heartbeat)
            now = time.monotonic()
            if message is None:
                if now - self._heard > self.node_timeout:
                    raise TimeoutError("the subscriber connection went quiet")
                continue
            self._heard = now
            kind = message["type"]
            channel = message["channel"]
            if kind == b"subscribe" or kind == "subscribe":
                waiting.discard(channel)
                if not waiting and not self.connected:
                    self.connected = True
                    if self._up.is_set():
                        self.reconnects += 1  # `samplan_redis_reconnects`
                    self._up.set()
                    log.info("cluster: subscribed to %d channels", len(channels))
                    for late in set(self._handlers) - set(channels):  # opened meanwhile
                        self._commands.put_nowait(("subscribe", late))
                    # Whatever was said while this node was not listening is in the store.
                    self.reconnected(None)
                for fut in self._confirmations.pop(channel, ()):
                    if not fut.done():
                        fut.set_result(None)
            elif kind == b"message" or kind == "message":
                handler = self._handlers.get(channel)
                if handler is not None:
                    try:
                        handler(message["data"])
                    except Exception:
                        log.error("cluster: a message handler failed", exc_info=True)

    def _disconnected(self) -> None:
        self.connected = False
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            asyncio.get_running_loop().create_task(_close_quietly(pubsub))
        for futures in self._confirmations.values():
            for fut in futures:
                if not fut.done():
                    fut.set_result(None)  # the reconnect subscribes and catches up
        self._confirmations.clear()
        # Nobody is heard while we are deaf: every other node's clients leave for now and
        # come back with the reconnect's awareness query.
        for node in list(self.last_seen):
            del self.last_seen[node]
            self.node_gone(node)

    # -- nodes -----------------------------------------------------------------------------

    def _node_message(self, what: str) -> bytes:
        return json.dumps({"node": self.node_id, "t": what}).encode()

    async def _beat_forever(self) -> None:
        while True:
            self.publish(self.nodes_channel, self._node_message("hb"))
            now = time.monotonic()
            for node, seen in list(self.last_seen.items()):
                if now - seen > self.node_timeout:
                    del self.last_seen[node]
                    log.info("cluster: node %s not heard for %.1f s", node, now - seen)
                    self.node_gone(node)
            await asyncio.sleep(self.heartbeat)

    def heard_from(self, node: str) -> None:
        """Count a node as alive from now on, if it is not watched yet (its heartbeat may come
        later, or never: then it times out like any silent node)."""
        if node != self.node_id and node not in self.last_seen:
            self.last_seen[node] = time.monotonic()

    def _on_node(self, data: bytes) -> None:
        message: Any = json.loads(data)
        node = str(message.get("node", ""))
        if not node or node == self.node_id:
            return
        if message.get("t") == "bye":
            if self.last_seen.pop(node, None) is not None:
                log.info("cluster: node %s left", node)
            self.node_gone(node)
            return
        if node not in self.last_seen:
            log.info("cluster: node %s joined", node)
            self.last_seen[node] = time.monotonic()
            self.node_seen(node)
        else:
            self.last_seen[node] = time.monotonic()


async def _close_quietly(pubsub: PubSub) -> None:
    with contextlib.suppress(Exception):
        await pubsub.aclose()
