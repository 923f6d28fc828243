"""What each loaded room and each idle connection costs the server, by allocation site
(issue 16, "Memory"): `python bench/room_memory.py [--plans 100] [--clients 4]`.

One process: the real app under uvicorn (tests/support/live.py) on a seeded SQLite database
(bench/seed.py), and raw WebSocket clients (bench/wire.py). tracemalloc snapshots are taken
after one warm-up room and again with every plan loaded and its clients synced and idle; the
difference is split into the server's share and the clients' (an allocation whose traceback
passes through bench/wire.py is the clients'), and the server's is grouped by the first
frame in our code (crdt/, server/, storage/) or else the library's file. Not a timing."""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import sys
import tempfile
import tracemalloc
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seed import RoomNeed, bench_settings, seed  # noqa: E402
from bench.wire import open_client, within  # noqa: E402
from tests.support.live import live_server  # noqa: E402

OURS = tuple(str(ROOT / p) for p in ("crdt", "server", "storage"))
CLIENT = str(ROOT / "bench" / "wire.py")


def _site(trace: tracemalloc.Traceback) -> str | None:
    """The allocation's owner: None for the clients', else our first frame (innermost first)
    or the library's innermost file."""
    files = [frame.filename for frame in trace]
    if any(f == CLIENT for f in files):
        return None
    innermost = list(reversed(trace))  # a Traceback runs from the oldest frame to the newest
    library = innermost[0]
    where = f"{'/'.join(Path(library.filename).parts[-2:])}:{library.lineno}"
    for frame in innermost:
        if frame.filename.startswith(OURS):
            ours = f"{Path(frame.filename).relative_to(ROOT)}:{frame.lineno}"
            return ours if frame is library else f"{ours} ({where})"
    return where


def _diff(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> dict[str | None, int]:
    sizes: dict[str | None, int] = defaultdict(int)
    for stat in after.compare_to(before, "traceback"):
        sizes[_site(stat.traceback)] += stat.size_diff
    return sizes


async def main(plans: int, clients: int, top: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="room-memory-"))
    settings = bench_settings(work, secrets.token_urlsafe(32))
    settings.room_grace_seconds = 600.0  # the rooms stay loaded while we look
    seeded = await seed(settings, [RoomNeed("idle", plans + 1, clients)])
    warm, *rooms = seeded.rooms["idle"]
    async with live_server(settings) as server:
        url = f"ws://127.0.0.1:{server.port}/ws"

        async def join(room_path: str, token: str, slot: int) -> object:
            client = await open_client(f"{url}/{room_path}?token={token}", slot)
            await within(client.synced, 60)
            return client

        held = [await join(warm.room, warm.tokens[0], 0)]
        await asyncio.sleep(0.5)
        gc.collect()
        tracemalloc.start(25)
        before = tracemalloc.take_snapshot()
        for room in rooms:
            held.append(await join(room.room, room.tokens[0], 0))
        for slot in range(1, clients):
            held.extend(await asyncio.gather(*(join(r.room, r.tokens[slot], slot) for r in rooms)))
        await asyncio.sleep(1.5)  # idle: whatever a join leaves behind settles
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        sizes = _diff(before, after)
        client_bytes = sizes.pop(None, 0)
        server_bytes = sum(sizes.values())
        print(f"{plans} plans x {clients} connections, Python allocations still held:")
        print(f"  server: {server_bytes / plans / 1024:.1f} KB per plan ({server_bytes} B)")
        print(f"  clients (bench/wire.py, not the server's): {client_bytes / plans / 1024:.1f} KB")
        groups: dict[str, int] = defaultdict(int)
        for site, size in sizes.items():
            assert site is not None
            groups[site.split(" (")[0].split("/")[0]] += size
        print("  by package of the allocating line (ours: the first of our frames):")
        for name, size in sorted(groups.items(), key=lambda kv: -kv[1]):
            if abs(size) >= plans * 100:
                print(f"  {size / plans:9.0f} B/plan  {name}")
        print("  by line:")
        for site, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {size / plans:9.0f} B/plan  {site}")
        for client in held:
            client.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--plans", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.plans, args.clients, args.top))
