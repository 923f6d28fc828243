"""Late join: fresh clients join a room held in memory whose document has many updates.

One writer sends `--updates` small edits (æøå words) to one zone through a real server, an
observer waits until every one is relayed (so all are durable and in the room's document),
then `--joiners` fresh clients join one after another, each alone: the time from its sync
step 1 to the server's sync step 2 is what a newcomer waits for the document (the socket
handshake and authentication are timed apart, as "open"). Each step 2 is checked against the
writer's document.

    .venv/bin/python bench/late_join.py [--updates 10000] [--joiners 20] [--synchronous FULL]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench`, `server`, ... importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.edits import client_edits, state_of
from bench.scenarios import percentile
from bench.seed import RoomNeed, bench_settings, seed
from bench.servers import samplan_server
from bench.wire import BenchClient, frame_keys, open_client, update_key, update_of, within
from crdt.protocol import encode_sync_update

SYNC_TIMEOUT = 60.0
CHUNK = 200  # edits in flight at once while filling the room


async def _fill(url_of: list[str], updates: list[bytes]) -> None:
    writer = await open_client(url_of[0], 0)
    observer = await open_client(url_of[1], 1)
    await within(asyncio.gather(writer.synced, observer.synced), SYNC_TIMEOUT)
    wanted = [update_key(update) for update in updates]
    seen: set[tuple[int, int] | None] = set()
    for start in range(0, len(updates), CHUNK):
        for update in updates[start : start + CHUNK]:
            writer.send(encode_sync_update(update))
        await _relayed(observer, wanted[start : start + CHUNK], seen)
    writer.close()
    observer.close()


async def _relayed(
    observer: BenchClient,
    wanted: list[tuple[int, int] | None],
    seen: set[tuple[int, int] | None],
    timeout: float = SYNC_TIMEOUT,
) -> None:
    """Wait until the observer was sent every edit in `wanted`, found by its first struct: the
    server sends one frame per durable batch, so frames are not edits."""
    deadline = time.perf_counter() + timeout
    while True:
        frames, observer.received = observer.received, []  # each frame is read once
        for _, frame in frames:
            seen.update(frame_keys(frame))
        if seen.issuperset(wanted):
            return
        if time.perf_counter() > deadline:
            raise TimeoutError("the room did not relay every update")
        await asyncio.sleep(0.005)


async def _join(url: str, slot: int) -> tuple[float, float, BenchClient]:
    """(open ms, step 1 -> step 2 ms, client)."""
    started = time.perf_counter()
    client = await open_client(url, slot)
    opened = time.perf_counter()  # our sync step 1 went out in the handshake's callback
    await within(client.synced, SYNC_TIMEOUT)
    assert client.synced_at is not None
    client.close()
    return (opened - started) * 1000, (client.synced_at - opened) * 1000, client


async def run(updates: int, joiners: int, synchronous: str) -> int:
    with tempfile.TemporaryDirectory(prefix="samplan-latejoin-") as tmp:
        work = Path(tmp)
        secret = secrets.token_urlsafe(32)
        settings = bench_settings(work, secret, synchronous)
        seeded = await seed(settings, [RoomNeed("late", 1, joiners + 2)])
        room = seeded.rooms["late"][0]
        edits = [edit.update for edit in client_edits(4242, updates)]
        expected = state_of(edits)
        server = samplan_server(work, settings.resolved_database_url(), secret, synchronous)
        server.start()
        try:
            urls = [server.url(room.room, token) for token in room.tokens]
            filled = time.perf_counter()
            await _fill(urls, edits)
            fill_s = time.perf_counter() - filled
            await asyncio.sleep(1.0)  # let the compaction the burst set off finish
            rss = server.rss_bytes() / 2**20
            cpu0 = server.cpu_seconds()
            opens, waits, ok = [], [], 0
            for j in range(joiners):
                opened_ms, synced_ms, client = await _join(urls[2 + j], 2 + j)
                opens.append(opened_ms)
                waits.append(synced_ms)
                assert client.step2 is not None
                ok += state_of([update_of(client.step2)]) == expected
            cpu_ms = (server.cpu_seconds() - cpu0) * 1000
        finally:
            server.stop()
    opens.sort()
    waits.sort()
    print(
        f"late join: {updates} updates in the room (filled in {fill_s:.1f} s), "
        f"{joiners} joiners one after another, synchronous={synchronous}"
    )
    print(
        f"  step 1 -> step 2 ms: p50 {percentile(waits, 0.5):.2f}  p99 "
        f"{percentile(waits, 0.99):.2f}  max {waits[-1]:.2f}"
    )
    print(
        f"  open (handshake + auth) ms: p50 {percentile(opens, 0.5):.2f}  p99 "
        f"{percentile(opens, 0.99):.2f}"
    )
    print(
        f"  server CPU per join: {cpu_ms / joiners:.2f} ms; RSS {rss:.0f} MB; "
        f"content ok {ok}/{joiners}"
    )
    return 0 if ok == joiners else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--joiners", type=int, default=20)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    args = parser.parse_args()
    return asyncio.run(run(args.updates, args.joiners, args.synchronous))


if __name__ == "__main__":
    sys.exit(main())
