"""What a plan that grows to megabytes costs the server, per edit and per cold load.

Writers who sync before they type, as browsers do, insert and delete at random places in one
text; every so many edits the script reports the document's size, what applying one more
edit costs a server's copy (p50 and p99 of the writers' own transaction updates, the updates
a browser sends), and what a cold load costs: applying the whole stored state to a fresh
document, which a room does on the event loop. pycrdt only, no server: the CRDT's share of
the cost, measured apart from the network and the database.

    python bench/big_plan.py [--edits 30000] [--writers 5] [--every 10000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from pycrdt import Doc, Text, TransactionEvent


class _Writer:
    """One browser: its own document, synced from the log before each edit."""

    def __init__(self, client_id: int) -> None:
        self.doc: Doc[Any] = Doc(client_id=client_id)
        self.seen = 0
        self.sent: list[bytes] = []
        self.doc.observe(self._capture)

    def _capture(self, event: TransactionEvent) -> None:
        self.sent.append(event.update)

    def edit(self, log: list[bytes], words: str, rng: random.Random, delete: bool) -> list[bytes]:
        for update in log[self.seen :]:
            self.doc.apply_update(update)
        self.sent.clear()
        text = self.doc.get("t", type=Text)
        at = rng.randint(0, len(text))
        text.insert(at, words)
        if delete and len(text) > at + 5:
            del text[at : at + 5]
        sent, self.sent = self.sent, []
        log.extend(sent)
        self.seen = len(log)
        return sent


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=30_000)
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--every", type=int, default=10_000, help="report every N edits")
    parser.add_argument("--delete-every", type=int, default=3, help="every Nth edit deletes too")
    args = parser.parse_args(argv)
    rng = random.Random(1)
    writers = [_Writer(client_id) for client_id in range(1, args.writers + 1)]
    server: Doc[Any] = Doc()
    log: list[bytes] = []
    applied: list[float] = []
    for n in range(1, args.edits + 1):
        writer = writers[n % len(writers)]
        words = f"Åse Ødegård skriver {n} om blåbær 🫐 "
        for update in writer.edit(log, words, rng, delete=n % args.delete_every == 0):
            started = time.perf_counter()
            server.apply_update(update)
            applied.append(time.perf_counter() - started)
        if n % args.every == 0:
            state = server.get_update()
            started = time.perf_counter()
            Doc().apply_update(state)
            cold = time.perf_counter() - started
            recent = applied[-2000:]
            print(
                f"{n:>7} edits: {len(state) / 1e6:6.2f} MB stored; one edit applied p50 "
                f"{_percentile(recent, 0.5) * 1e6:6.0f} µs, p99 "
                f"{_percentile(recent, 0.99) * 1e6:6.0f} µs; cold load {cold * 1e3:6.1f} ms",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
