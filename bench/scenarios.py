"""The scenarios: paced edits (fan-out latency), everyone joining at once, cold loads, late
joins, many idle connections, and saturation (the rate raised until the tail or losses break).

Latency is measured per (edit, receiver) pair: receipt time minus send time, both read
with `time.perf_counter()` in this one process. Sends follow a schedule fixed in advance
(open loop: nobody waits for an acknowledgement), so a slow server shows up as latency
rather than as a lower offered load.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil  # type: ignore[import-untyped]
from pycrdt import Doc

from bench.edits import Edit, client_edits, state_of
from bench.seed import BenchRoom
from bench.servers import Deployment
from bench.wire import BenchClient, frame_keys, update_of, within
from crdt.protocol import encode_sync_step2

CONNECT_CONCURRENCY = 32  # setup only; the `connect` scenario opens everyone at once
SYNC_TIMEOUT = 30.0
IDLE_SYNC_TIMEOUT = 10.0


@dataclass(frozen=True)
class LoadSpec:
    name: str
    plans: int
    clients: int  # per plan
    edits_per_second: float  # per client


@dataclass
class LoadResult:
    scenario: str
    server: str
    rooms: int
    clients: int
    offered_eps: float
    achieved_eps: float
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int
    expected: int
    delivered: int
    lost: int
    duplicates: int
    unknown: int
    echoes: int
    rooms_converged: int
    cpu_us_per_delivery: float
    server_cpu_pct: float
    rss_mb: float
    peak_rss_mb: float
    loadgen_cpu_pct: float
    send_lag_p99_ms: float  # how late the load generator sent, against its schedule
    idle_cpu_pct: float  # the server's CPU with every client connected and nobody typing
    seconds: float
    round: int = 0
    loop_lag_ms: float = math.nan  # Samplan's longest event-loop stall (/metrics), else NaN
    steady_lag_ms: float = math.nan  # the same during the paced edits only (no start, no joins)
    # Samplan's longest durable commit and longest write job during the paced edits: a
    # fan-out tail near either is the disk's or the job's, not the relay's.
    steady_commit_ms: float = math.nan
    steady_job_ms: float = math.nan
    # Several nodes: the fan-out p99 of deliveries to a client on the sender's own node, and
    # to one on another node (the Redis hop between), else NaN.
    same_node_p99_ms: float = math.nan
    other_node_p99_ms: float = math.nan
    # Every process's CPU on the machine during the paced edits (100 = one CPU busy): the
    # servers, their database and Redis, and the load generator all share these CPUs.
    machine_cpu_pct: float = math.nan
    # CPU the hypervisor gave to other guests meanwhile (steal, 100 = one CPU): on a shared
    # virtual machine, a tail no process explains can be this.
    steal_pct: float = math.nan


@dataclass
class ConnectResult:
    scenario: str
    server: str
    clients: int
    synced: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    all_synced_ms: float
    content_ok: int
    server_cpu_ms: float
    rss_mb: float
    failures: list[str] = field(default_factory=list)
    round: int = 0
    loop_lag_ms: float = math.nan


@dataclass
class ColdLoadResult:
    server: str
    updates: int
    runs: int
    connect_to_synced_ms: list[float]
    server_load_ms: list[float]
    content_ok: int
    apply_floor_ms: float  # applying the same updates to a fresh pycrdt Doc in this process
    layout: str = "in the log"
    round: int = 0
    loop_lag_ms: float = math.nan

    @property
    def median_ms(self) -> float:
        return statistics.median(self.connect_to_synced_ms)

    @property
    def server_median_ms(self) -> float:
        return statistics.median(self.server_load_ms) if self.server_load_ms else math.nan


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, stolen): CPU seconds every process on the machine has used, all CPUs together
    (user, system and interrupts; not idle nor waiting on the disk), and those the hypervisor
    gave to other guests, for figures of how busy the shared CPUs were."""
    times = psutil.cpu_times()
    busy = times.user + times.nice + times.system
    busy += getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0)
    return float(busy), float(getattr(times, "steal", 0.0))


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def connect_all(
    server: Deployment, rooms: list[BenchRoom], per_room: int, ids: Iterator[int]
) -> list[list[tuple[BenchClient, int]]]:
    """Open `per_room` clients in every room and wait until each is synced."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(room: BenchRoom, slot: int) -> tuple[BenchClient, int]:
        async with gate:
            client = await server.open(room, slot)
            await within(client.synced, SYNC_TIMEOUT)
            return client, next(ids)

    async def room_clients(room: BenchRoom) -> list[tuple[BenchClient, int]]:
        # The first client alone, then the rest: pycrdt-websocket loses concurrent joins of
        # a room it has not started yet (DESIGN §9); that is what `connect` measures, not this.
        first = await one(room, 0)
        rest = await asyncio.gather(*(one(room, slot) for slot in range(1, per_room)))
        return [first, *rest]

    return list(await asyncio.gather(*(room_clients(room) for room in rooms)))


def _schedule(counts: list[int], rate: float, rng: random.Random) -> list[tuple[float, int, int]]:
    """(offset s, sender, edit index), sorted: evenly spaced per sender, random phase,
    +-25 % jitter (so one sender's edits never swap order)."""
    period = 1.0 / rate
    plan = []
    for sender, count in enumerate(counts):
        phase = rng.uniform(0.0, period)
        for i in range(count):
            offset = phase + i * period + rng.uniform(-0.25, 0.25) * period
            plan.append((max(0.0, offset), sender, i))
    plan.sort()
    return plan


async def _drain(
    server: Deployment, clients: list[BenchClient], target: int, deadline: float
) -> list[tuple[float, float, tuple[float, float]]]:
    """Wait until `target` frames arrived, nothing arrived for 2 s, or `deadline`; sample
    the server's and the machine's CPU seconds meanwhile, so the window can end at the last
    delivery (a server that merges updates, like Hocuspocus, sends fewer frames than edits: it
    ends on the 2 s)."""
    last, stalled_since = -1, time.perf_counter()
    samples = [(stalled_since, server.cpu_seconds(), machine_cpu_seconds())]
    while time.perf_counter() < deadline:
        got = sum(c.updates for c in clients)
        now = time.perf_counter()
        samples.append((now, server.cpu_seconds(), machine_cpu_seconds()))
        if got >= target:
            break
        if got != last:
            last, stalled_since = got, now
        elif now - stalled_since > 2.0:
            break
        await asyncio.sleep(0.02)
    return samples


async def run_load(
    server: Deployment,
    spec: LoadSpec,
    rooms: list[BenchRoom],
    duration: float,
    warmup: float,
    ids: Iterator[int],
    echoes: bool,
    idle_seconds: float = 1.0,
    seed: int = 7,
) -> LoadResult:
    per_room = await connect_all(server, rooms, spec.clients, ids)
    entries: list[BenchClient] = []
    try:
        if server.setup.one_entry:
            entries = await asyncio.gather(*(_entry(server, room) for room in rooms))
        return await drive(
            server,
            spec,
            per_room,
            duration,
            warmup,
            echoes,
            idle_seconds,
            random.Random(seed),
            entries or None,
        )
    finally:
        for client in [*entries, *(client for pairs in per_room for client, _ in pairs)]:
            client.close()


async def _entry(server: Deployment, room: BenchRoom) -> BenchClient:
    """A room's connection to the first node that sends the edits of the room's clients on
    the other nodes (SetUp.one_entry), as a node forwarding them to the zone's node would."""
    client = await server.open(room, 0)
    await within(client.synced, SYNC_TIMEOUT)
    return client


async def drive(
    server: Deployment,
    spec: LoadSpec,
    per_room: list[list[tuple[BenchClient, int]]],
    duration: float,
    warmup: float,
    echoes: bool,
    idle_seconds: float,
    rng: random.Random,
    entries: list[BenchClient] | None = None,
) -> LoadResult:
    """Paced edits from every connected client at `spec`'s rate; every figure of one window.
    `entries` (one per room, on the first node): the connection that sends the edits of that
    room's clients on other nodes; each of those clients then gets its own edits back."""
    senders = [(r, client, cid) for r, pairs in enumerate(per_room) for client, cid in pairs]
    # The node each client is on (Deployment.node: by its slot in the room).
    nodes = [slot % len(server.nodes) for pairs in per_room for slot in range(len(pairs))]
    forwarded = [entries is not None and node != 0 for node in nodes]
    count = max(1, round((duration + warmup) * spec.edits_per_second))
    edits = [client_edits(cid, count) for _, _, cid in senders]
    plan = _schedule([count] * len(senders), spec.edits_per_second, rng)
    clients = [client for _, client, _ in senders]
    for client in clients:  # a window's figures are its own (saturation drives several)
        client.received.clear()
        client.updates = 0
    target = len(plan) * (spec.clients - 1 + (1 if echoes else 0))
    target += sum(forwarded[sender] for _, sender, _ in plan)  # their own edits, back
    via = clients
    if entries is not None:
        via = [entries[r] if forwarded[k] else clients[k] for k, (r, _, _) in enumerate(senders)]

    idle_from, idle_cpu = time.perf_counter(), server.cpu_seconds()
    await asyncio.sleep(idle_seconds)
    idle_pct = (server.cpu_seconds() - idle_cpu) / (time.perf_counter() - idle_from) * 100
    await server.begin_steady()  # before the CPU window: the scrape costs the server CPU
    me = psutil.Process()
    cpu0, own0, machine0 = server.cpu_seconds(), sum(me.cpu_times()[:2]), machine_cpu_seconds()
    sent_at = [0.0] * len(plan)
    gc.collect()
    gc.disable()  # the load generator's own GC pauses would show up as server latency
    try:
        start = time.perf_counter() + 0.05
        for n, (offset, sender, i) in enumerate(plan):
            delay = start + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[n] = time.perf_counter()
            via[sender].send(edits[sender][i].frame)
        last_send = time.perf_counter()
        samples = await _drain(server, clients, target, last_send + 10.0)
        own1 = sum(me.cpu_times()[:2])
        rss, peak = server.rss_bytes(), server.peak_rss_bytes()
    finally:
        gc.enable()
    # The window ends at the last delivery (or the last send): the first CPU sample after it.
    last_rx = max((c.received[-1][0] for c in clients if c.received), default=last_send)
    end, cpu1, machine1 = next((s for s in samples if s[0] >= max(last_rx, last_send)), samples[-1])

    stats = _tally(senders, nodes, edits, plan, sent_at, start + warmup, spec.clients)
    wall = end - start
    # n sends span n-1 gaps; add one mean gap so the rate is not overstated on short runs
    send_window = (last_send - start) + (last_send - start) / max(len(plan) - 1, 1)
    lags = sorted(at - (start + offset) for at, (offset, _, _) in zip(sent_at, plan, strict=True))
    delivered = stats["delivered"]
    return LoadResult(
        scenario=spec.name,
        server=server.name,
        rooms=len(per_room),
        clients=len(senders),
        offered_eps=len(senders) * spec.edits_per_second,
        achieved_eps=len(plan) / send_window,
        deliveries_per_s=delivered / send_window,
        p50_ms=stats["p50"],
        p99_ms=stats["p99"],
        max_ms=stats["max"],
        samples=stats["samples"],
        expected=stats["expected"],
        delivered=delivered,
        lost=stats["expected"] - delivered,
        duplicates=stats["duplicates"],
        unknown=stats["unknown"],
        echoes=stats["echoes"],
        rooms_converged=_converged(per_room, edits, senders),
        cpu_us_per_delivery=(cpu1 - cpu0) / max(delivered, 1) * 1e6,
        server_cpu_pct=(cpu1 - cpu0) / wall * 100,
        rss_mb=rss / 2**20,
        peak_rss_mb=peak / 2**20,
        loadgen_cpu_pct=(own1 - own0) / (time.perf_counter() - start) * 100,
        send_lag_p99_ms=percentile(lags, 0.99) * 1000,
        idle_cpu_pct=idle_pct,
        seconds=wall,
        same_node_p99_ms=stats["same_p99"],
        other_node_p99_ms=stats["other_p99"],
        machine_cpu_pct=(machine1[0] - machine0[0]) / wall * 100,
        steal_pct=(machine1[1] - machine0[1]) / wall * 100,
    )


def _tally(
    senders: list[tuple[int, BenchClient, int]],
    nodes: list[int],
    edits: list[list[Edit]],
    plan: list[tuple[float, int, int]],
    sent_at: list[float],
    measured_from: float,
    room_size: int,
) -> dict[str, Any]:
    """Match every edit a client received to its send by the (client, clock) of its struct
    (a frame can carry several: Hocuspocus merges the updates of one event-loop turn)."""
    sent: dict[tuple[int, int], tuple[float, int]] = {}
    for n, (_, sender, i) in enumerate(plan):
        sent[edits[sender][i].key] = (sent_at[n], sender)
    latencies: list[float] = []
    by_node: tuple[list[float], list[float]] = ([], [])  # same node, another node
    delivered = duplicates = unknown = echoes = 0
    for receiver, (_, client, _) in enumerate(senders):
        seen: set[tuple[int, int]] = set()
        for received_at, frame in client.received:
            for key in frame_keys(frame, client.offset):
                info = sent.get(key)
                if info is None:
                    unknown += 1
                elif info[1] == receiver:
                    echoes += 1  # the peers send every update back to its sender too
                elif key in seen:
                    duplicates += 1
                else:
                    seen.add(key)
                    delivered += 1
                    if info[0] >= measured_from:
                        latencies.append(received_at - info[0])
                        by_node[nodes[info[1]] != nodes[receiver]].append(received_at - info[0])
    latencies.sort()
    same, other = (sorted(part) for part in by_node)
    several = len(set(nodes)) > 1
    return {
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": (latencies[-1] * 1000) if latencies else math.nan,
        "same_p99": percentile(same, 0.99) * 1000 if several else math.nan,
        "other_p99": percentile(other, 0.99) * 1000 if several else math.nan,
        "samples": len(latencies),
        "expected": len(plan) * (room_size - 1),
        "delivered": delivered,
        "duplicates": duplicates,
        "unknown": unknown,
        "echoes": echoes,
    }


def _converged(
    per_room: list[list[tuple[BenchClient, int]]],
    edits: list[list[Edit]],
    senders: list[tuple[int, BenchClient, int]],
) -> int:
    """Rooms where the first client's document (its own edits plus everything it was sent)
    shows exactly what all sent edits make: the relayed bytes are the edits, not just their
    headers. Only edits actually sent count (all of them are, by the end of the schedule)."""
    by_room: dict[int, list[int]] = {}
    for index, (room, _, _) in enumerate(senders):
        by_room.setdefault(room, []).append(index)
    ok = 0
    for room, members in by_room.items():
        everything = state_of(e.update for m in members for e in edits[m])
        first = members[0]
        client = per_room[room][0][0]
        mine = [e.update for e in edits[first]]
        theirs = [update_of(frame, client.offset) for _, frame in client.received]
        if state_of([*mine, *theirs]) == everything:
            ok += 1
    return ok


async def warm_up(server: Deployment, warm: BenchRoom) -> None:
    """One connection to another zone first, on every node: measure joins, not a fresh
    process's first statement compilations and imports."""
    for slot in range(len(server.nodes)):  # slot n lands on node n
        client = await server.open(warm, slot)
        await within(client.synced, SYNC_TIMEOUT)
        client.close()


async def run_connect(
    server: Deployment,
    warm: BenchRoom,
    room: BenchRoom,
    clients: int,
    expected: tuple[str, dict[str, Any]],
    timeout: float = 10.0,
) -> ConnectResult:
    """Everyone opens the same room in the same event-loop turn; time each until synced."""
    await warm_up(server, warm)
    cpu0 = server.cpu_seconds()
    start = time.perf_counter()

    async def one(slot: int) -> BenchClient:
        client = await server.open(room, slot, timeout)
        await within(client.synced, max(0.1, start + timeout - time.perf_counter()))
        return client

    outcomes = await asyncio.gather(*(one(s) for s in range(clients)), return_exceptions=True)
    cpu1, rss = server.cpu_seconds(), server.rss_bytes()
    waits, failures, content_ok = [], [], 0
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            failures.append(type(outcome).__name__)
            continue
        assert outcome.synced_at is not None and outcome.step2 is not None
        waits.append(outcome.synced_at - start)
        if state_of([update_of(outcome.step2, outcome.offset)]) == expected:
            content_ok += 1
        outcome.close()
    waits.sort()
    return ConnectResult(
        scenario="connect",
        server=server.name,
        clients=clients,
        synced=len(waits),
        p50_ms=percentile(waits, 0.5) * 1000,
        p99_ms=percentile(waits, 0.99) * 1000,
        max_ms=(waits[-1] * 1000) if waits else math.nan,
        all_synced_ms=(waits[-1] * 1000) if len(waits) == clients else math.nan,
        content_ok=content_ok,
        server_cpu_ms=(cpu1 - cpu0) * 1000,
        rss_mb=rss / 2**20,
        failures=failures,
    )


async def run_coldload(
    server: Deployment,
    warm: BenchRoom,
    rooms: list[BenchRoom],
    history: list[bytes],
    expected: tuple[str, dict[str, Any]],
    layout: str = "in the log",
) -> ColdLoadResult:
    """Connect to a zone nobody has opened since the server started (a fresh log of
    `history`), time connect -> synced; each run uses a different zone so none is warm."""
    await warm_up(server, warm)
    waits, content_ok = [], 0
    for room in rooms:
        await asyncio.sleep(0.5)  # let the previous zone's background compaction finish
        start = time.perf_counter()
        client = await server.open(room, 0)
        await within(client.synced, SYNC_TIMEOUT)
        assert client.synced_at is not None and client.step2 is not None
        waits.append((client.synced_at - start) * 1000)
        client.close()
        if state_of([update_of(client.step2, client.offset)]) == expected:
            content_ok += 1
    await asyncio.sleep(0.2)
    logged = server.load_times_ms()
    server_ms = [logged[r.zone_id][1] for r in rooms if r.zone_id in logged]
    floors = []
    for _ in range(3):
        started = time.perf_counter()
        state_of(history)
        floors.append((time.perf_counter() - started) * 1000)
    return ColdLoadResult(
        server=server.name,
        updates=len(history),
        runs=len(rooms),
        connect_to_synced_ms=waits,
        server_load_ms=server_ms,
        content_ok=content_ok,
        layout=layout,
        apply_floor_ms=statistics.median(floors),
    )


@dataclass
class IdleResult:
    server: str
    plans: int
    asked: int  # connections opened
    synced: int
    held: int  # still open after the hold
    rss_before_mb: float  # after one warm-up connection, before any idle plan
    rss_mb: float
    peak_rss_mb: float
    per_plan_kb: float  # (RSS with every plan loaded and its clients connected - before) / plans
    connect_s: float  # until every connection synced (or failed)
    idle_cpu_pct: float  # the server's CPU while they sit there
    failures: list[str] = field(default_factory=list)
    round: int = 0
    loop_lag_ms: float = math.nan


async def run_idle(
    server: Deployment,
    warm: BenchRoom,
    rooms: list[BenchRoom],
    per_room: int,
    hold: float,
) -> IdleResult:
    """Many connections that do nothing: per_room on each of `rooms` (the issue's 2,000 on 500
    plans); what they cost in memory and whether the server holds them all."""
    await warm_up(server, warm)
    await asyncio.sleep(0.5)
    rss0 = server.rss_bytes()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    start = time.perf_counter()

    async def one(room: BenchRoom, slot: int) -> BenchClient:
        async with gate:
            client = await server.open(room, slot, IDLE_SYNC_TIMEOUT)
            await within(client.synced, IDLE_SYNC_TIMEOUT)
            return client

    # Each room's first client alone, then the rest, as in `connect_all`: this scenario is
    # about what held connections cost, not concurrent joins of a new room (`connect`).
    first = await asyncio.gather(*(one(room, 0) for room in rooms), return_exceptions=True)
    rest = await asyncio.gather(
        *(one(room, slot) for room in rooms for slot in range(1, per_room)),
        return_exceptions=True,
    )
    outcomes = [*first, *rest]
    connect_s = time.perf_counter() - start
    clients = [o for o in outcomes if isinstance(o, BenchClient)]
    failures = [type(o).__name__ for o in outcomes if isinstance(o, BaseException)]
    cpu0, at0 = server.cpu_seconds(), time.perf_counter()
    await asyncio.sleep(hold)
    idle_pct = (server.cpu_seconds() - cpu0) / (time.perf_counter() - at0) * 100
    held = sum(
        1
        for c in clients
        if c.close_code is None and c.transport is not None and not c.transport.is_closing()
    )
    rss, peak = server.rss_bytes(), server.peak_rss_bytes()
    for client in clients:
        client.close()
    return IdleResult(
        server=server.name,
        plans=len(rooms),
        asked=len(outcomes),
        synced=len(clients),
        held=held,
        rss_before_mb=rss0 / 2**20,
        rss_mb=rss / 2**20,
        peak_rss_mb=peak / 2**20,
        per_plan_kb=(rss - rss0) / max(len(rooms), 1) / 1024,
        connect_s=connect_s,
        idle_cpu_pct=idle_pct,
        failures=failures,
    )


@dataclass
class LateJoinResult:
    server: str
    updates: int
    joins: int
    join_ms: list[float]  # connect -> sync step 2, each a fresh client
    content_ok: int
    round: int = 0
    loop_lag_ms: float = math.nan

    @property
    def median_ms(self) -> float:
        return statistics.median(self.join_ms) if self.join_ms else math.nan


async def run_latejoin(
    server: Deployment,
    room: BenchRoom,
    history: list[bytes],
    expected: tuple[str, dict[str, Any]],
    joins: int,
    push: bool,
) -> LateJoinResult:
    """A fresh client joins a room held in memory whose document has `history`: time from
    connect to its sync step 2. A first client holds the room; with `push` (a server that
    starts empty) it hands the server the document first, as a client with the history
    offline would (one sync step 2). A first, unmeasured join checks the server holds it."""
    holder = await server.open(room, 0)
    await within(holder.synced, SYNC_TIMEOUT)
    try:
        if push:
            doc_update = state_update(history)
            holder.send(encode_sync_step2(doc_update))
        deadline = time.perf_counter() + SYNC_TIMEOUT
        while True:  # wait until the server holds the whole document
            probe = await server.open(room, 1)
            await within(probe.synced, SYNC_TIMEOUT)
            probe.close()
            assert probe.step2 is not None
            if state_of([update_of(probe.step2, probe.offset)]) == expected:
                break
            if time.perf_counter() > deadline:
                raise TimeoutError("the server never held the late-join document")
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # background work after a load (compaction) settles
        waits, content_ok = [], 0
        for n in range(joins):
            start = time.perf_counter()
            client = await server.open(room, 2 + n)
            await within(client.synced, SYNC_TIMEOUT)
            assert client.synced_at is not None and client.step2 is not None
            waits.append((client.synced_at - start) * 1000)
            client.close()
            if state_of([update_of(client.step2, client.offset)]) == expected:
                content_ok += 1
            await asyncio.sleep(0.2)
    finally:
        holder.close()
    return LateJoinResult(server.name, len(history), joins, waits, content_ok)


def state_update(history: list[bytes]) -> bytes:
    """The document `history` makes, as one update (what a client holding it would send)."""
    doc: Doc[Any] = Doc()
    for update in history:
        doc.apply_update(update)
    return doc.get_update()


@dataclass
class SaturationResult:
    server: str
    clients: int
    steps: list[LoadResult]
    reached_eps: float  # the highest offered edits/s (whole room) that held
    reached_deliveries_per_s: float
    broke: str  # why the next step failed, or that none did
    round: int = 0
    loop_lag_ms: float = math.nan


# A step holds while p99 stays under this (a delay people notice while typing together) and
# nothing is lost. 50 ms (and 20 ms below) broke at the first step for every server, the floor
# included, on a machine shared with other work: that measured the neighbours, not the servers.
SATURATION_P99_MS = 100.0
SATURATION_SEND_LAG_MS = 50.0  # the load generator itself fell this far behind its schedule


async def run_saturation(
    server: Deployment,
    room: BenchRoom,
    clients: int,
    rates: list[float],
    step_seconds: float,
    ids: Iterator[int],
    echoes: bool,
) -> SaturationResult:
    """One room, `clients` writers, the per-client rate raised step by step until p99 passes
    SATURATION_P99_MS, an edit is lost or the load generator cannot keep its own schedule.
    The connections stay; each step's edits come from new Yjs client ids."""
    rng = random.Random(11)
    per_room = await connect_all(server, [room], clients, ids)
    steps: list[LoadResult] = []
    reached = delivered = 0.0
    broke = "held at every rate tried"
    try:
        for rate in rates:
            fresh = [[(c, next(ids)) for c, _ in pairs] for pairs in per_room]
            spec = LoadSpec("saturation", 1, clients, rate)
            step = await drive(server, spec, fresh, step_seconds, 0.5, echoes, 0.2, rng)
            steps.append(step)
            if step.lost:
                broke = f"{step.lost} lost at {step.offered_eps:g} edits/s"
            elif step.p99_ms > SATURATION_P99_MS:
                broke = f"p99 {step.p99_ms:.0f} ms at {step.offered_eps:g} edits/s"
            elif step.send_lag_p99_ms > SATURATION_SEND_LAG_MS:
                broke = f"the load generator fell behind at {step.offered_eps:g} edits/s"
            else:
                reached, delivered = step.offered_eps, step.deliveries_per_s
                continue
            break
    finally:
        for pairs in per_room:
            for client, _ in pairs:
                client.close()
    return SaturationResult(server.name, clients, steps, reached, delivered, broke)
