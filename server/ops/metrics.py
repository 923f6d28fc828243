"""`/metrics`: the node's figures in the Prometheus text format, for the operator only.

The figures are counted where they happen as plain numbers (crdt/stats.py: the relay pays an
add, not a metrics-library call per delivery) and turned into Prometheus metric families only
when scraped, by one collector over the live objects. prometheus_client writes the format.

Not public: the figures say how busy which node is and nothing about any plan, but they are
an operator's, so `/metrics` answers only a request with `Authorization: Bearer
<SAMPLAN_METRICS_TOKEN>` (401 otherwise), and does not exist at all (404) while that token is
unset (the route: server/ops/metrics_page.py). docs/deploy.md shows a scrape job.

Later figures plug in without touching this module's callers: `Metrics.timings` hands out a
histogram under a new name (or exports one kept elsewhere: the Redis fan-out's lag,
`samplan_redis_lag_seconds`), and `Metrics.gauge` / `Metrics.counter` export any number
read at scrape time (`samplan_redis_reconnects`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

from crdt.committer import GroupCommitter
from crdt.registry import RoomRegistry
from crdt.stats import LATENCY_BOUNDS, Timings
from server.ops.loop_lag import LoopLagProbe

# Read by the benchmark: keep the names.
LOOP_LAG_MAX = "samplan_event_loop_lag_max_seconds"
COMMIT_MAX = "samplan_commit_max_seconds"
WRITE_JOB_MAX = "samplan_write_job_max_seconds"


@dataclass
class _Extra:
    name: str
    documentation: str
    timings: Timings | None = None
    read: Callable[[], float] | None = None
    counter: bool = False


class Metrics:
    """The node's metrics. `enabled` (a token is set) starts the loop-lag probe and serves
    `/metrics`; the counters are kept either way (they cost an add)."""

    def __init__(
        self,
        room_registry: RoomRegistry,
        committer: GroupCommitter,
        connections: Callable[[], int],
        *,
        token: str,
    ) -> None:
        self.room_registry = room_registry
        self.committer = committer
        self.connections = connections
        self.token = token
        self.probe = LoopLagProbe() if token else None
        # Zone sockets closed, by close code and by which side closed: the errors a client
        # met (4400 malformed, 4413 too large, 1013 rate limited or too slow, ...).
        self.closes: dict[tuple[int, str], int] = {}
        self._extras: list[_Extra] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        ProcessCollector(registry=self.registry)  # CPU seconds, resident memory, open files

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def start(self) -> None:
        if self.probe is not None:
            self.probe.start()

    async def stop(self) -> None:
        if self.probe is not None:
            await self.probe.stop()

    def closed(self, code: int, by: str) -> None:
        """Count one zone socket's end (`by`: "server", "client" or "refused")."""
        key = (int(code), by)
        self.closes[key] = self.closes.get(key, 0) + 1

    def timings(
        self,
        name: str,
        documentation: str,
        bounds: Sequence[float] = LATENCY_BOUNDS,
        *,
        kept: Timings | None = None,
    ) -> Timings:
        """A histogram exported as `name` (seconds): observe into what this returns (`kept`:
        one its owner already observes into)."""
        timings = kept if kept is not None else Timings(bounds)
        self._extras.append(_Extra(name, documentation, timings=timings))
        return timings

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge exported as `name`, its value `read()` at each scrape."""
        self._extras.append(_Extra(name, documentation, read=read))

    def counter(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A counter exported as `name` (Prometheus adds `_total`), `read()` at each scrape."""
        self._extras.append(_Extra(name, documentation, read=read, counter=True))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def authorised(self, header: str | None) -> bool:
        if not self.token or not header:
            return False
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self.token.encode())


class _Collector:
    """Reads the live objects at scrape time (prometheus_client's custom-collector form)."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        stats = m.room_registry.stats
        yield _gauge("samplan_connections", "Open zone sockets.", m.connections())
        yield _gauge("samplan_rooms_loaded", "Zone documents held in memory.", len(m.room_registry))
        yield _counter(
            "samplan_updates_received",
            "Updates sent by clients allowed to write (before they are applied).",
            stats.received,
        )
        yield _counter(
            "samplan_updates_relayed",
            "Updates made durable and relayed to a room's other clients.",
            stats.relayed,
        )
        yield _counter(
            "samplan_deliveries",
            "Relayed updates handed to clients (one per update and receiving client).",
            stats.deliveries,
        )
        yield _counter(
            "samplan_relay_frames",
            "Frames that carried them: one per client per durable batch (a batch's updates "
            "are merged into one frame).",
            stats.frames,
        )
        yield _histogram(
            "samplan_fanout_seconds",
            "From a writer's frame read off its socket to the relay of its change handed to "
            "the last other client in the room (durable commit included).",
            stats.fanout,
        )
        committer = m.committer
        yield _histogram(
            "samplan_commit_seconds",
            "One group commit of the update log, durable (fsync included).",
            committer.commit_seconds,
        )
        longest_commit, longest_job = committer.take_longest()
        yield _gauge(
            COMMIT_MAX,
            "The longest group commit since the previous scrape (or since start), fsync and "
            "the wait for SQLite's one writer included.",
            longest_commit,
        )
        yield _gauge(
            WRITE_JOB_MAX,
            "The longest write job (a compaction's or a summary round's write) the committer "
            "ran between batches since the previous scrape: edits queued behind it waited.",
            longest_job,
        )
        yield _counter(
            "samplan_committed_updates", "Updates written to the log.", committer.updates
        )
        yield _counter(
            "samplan_commit_failures", "Group commits that failed.", committer.failed_batches
        )
        timeouts = CounterMetricFamily(
            "samplan_store_timeouts",
            "Waits for the database given up on after SAMPLAN_COMMIT_TIMEOUT_SECONDS, by what "
            "waited: commit, write_job, load (a zone opened), read (a page's read of a zone "
            "not in memory), catch_up (a node re-reading a zone), join (a join's access check).",
            labels=["wait"],
        )
        for wait in ("commit", "write_job", "load", "read", "catch_up", "join"):
            timeouts.add_metric([wait], committer.bound.timeouts[wait])
        yield timeouts
        closes = CounterMetricFamily(
            "samplan_websocket_closes",
            "Zone sockets ended, by close code and by who ended them (server, client, or "
            "refused before joining).",
            labels=["code", "by"],
        )
        for (code, by), n in sorted(m.closes.items()):
            closes.add_metric([str(code), by], n)
        yield closes
        if m.probe is not None:
            yield _histogram(
                "samplan_event_loop_lag_seconds",
                "How late the event loop woke a probe that asks to be woken every "
                f"{m.probe.interval:g} s: a stall of the relay.",
                m.probe.lag,
            )
            yield _gauge(
                LOOP_LAG_MAX,
                "The longest event-loop lag since the previous scrape (or since start).",
                m.probe.take_max(),
            )
        for extra in m._extras:
            if extra.timings is not None:
                yield _histogram(extra.name, extra.documentation, extra.timings)
            elif extra.read is not None and extra.counter:
                yield _counter(extra.name, extra.documentation, extra.read())
            elif extra.read is not None:
                yield _gauge(extra.name, extra.documentation, extra.read())


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _histogram(name: str, documentation: str, timings: Timings) -> HistogramMetricFamily:
    buckets = [(_bound(le), float(n)) for le, n in timings.cumulative()]
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=timings.total)


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)
