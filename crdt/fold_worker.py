"""Compaction's replay in a worker process of its own, so it never holds the relay.

A traced zone's compaction replays the stored snapshot and up to `compact_after` updates
(crdt/authorship.py `trace_and_fold`). It used to run in a thread, but pycrdt holds the GIL
for the whole of each call: applying a large snapshot and encoding the new one are single
calls of tens of milliseconds (a 1 MB document: 33 ms to encode), during which the event loop,
and so every relay, waited (docs/BENCHMARKS.md, "Where the time goes under burst"). In another
process it costs the loop only the hand-off: the bytes in, the traces and snapshot out.

One small process for every room of a registry, started on the first compaction and kept;
compactions queue for it. It is a plain `python -c` that imports only this module's
dependencies (pycrdt and crdt.authorship: ~28 MB, 0.2 s of CPU to start), not the server: a
multiprocessing spawn would import the server's `__main__` again (~67 MB, ~1 s). Requests
and answers are length-prefixed pickles over its stdin and stdout (our own child, our own
data). Should it die, or not answer within `answer_within` seconds (hung: the default is far
above any replay of `compact_after` updates), it is killed, that
compaction runs in a thread as before, and the next one starts a new process. Without the
limit a hung worker held its room's compaction, and a shutdown waiting for it, forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import sys
from collections.abc import Sequence, Set
from pathlib import Path

from crdt.authorship import trace_and_fold

log = logging.getLogger("samplan.fold")

_HEADER = 8
# The same code as the server's: the directory holding this package comes first.
_ROOT = str(Path(__file__).resolve().parents[1])


def serve() -> None:
    """The worker's loop: one request at a time until its stdin closes (the server closes
    it at shutdown, and the kernel does when the server dies). Ctrl-C in the server's
    terminal reaches this process too: the server decides when it ends, not the signal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while len(header := stdin.read(_HEADER)) == _HEADER:
        request = pickle.loads(stdin.read(int.from_bytes(header, "big")))
        try:
            reply: tuple[str, object] = ("ok", trace_and_fold(*request))
        except Exception as exc:  # the parent logs it; never the content
            reply = ("error", type(exc).__name__)
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(len(data).to_bytes(_HEADER, "big") + data)
        stdout.flush()


class FoldWorkerFailed(RuntimeError):
    """The replay raised in the worker (the exception's class name is the message)."""


# Generous: a slow answer that is not hung must not be killed and replayed again in a thread.
ANSWER_WITHIN_SECONDS = 120.0


class FoldWorker:
    def __init__(self, *, answer_within: float = ANSWER_WITHIN_SECONDS) -> None:
        self.answer_within = answer_within
        self._proc: asyncio.subprocess.Process | None = None
        self._lock: asyncio.Lock | None = None

    async def trace_and_fold(
        self,
        kind: str,
        snapshot: bytes | None,
        updates: Sequence[tuple[int, bytes]],
        folded: Set[int],
    ) -> tuple[dict[int, str], bytes]:
        """`crdt.authorship.trace_and_fold`, in the worker process."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            request = (kind, snapshot, tuple(updates), frozenset(folded))
            try:
                async with asyncio.timeout(self.answer_within):
                    status, value = await self._ask(request)
            except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError) as exc:
                await self._stop(kill=True)
                log.warning(
                    "compaction worker process failed (%s): this compaction runs in a thread",
                    type(exc).__name__,
                )
                return await asyncio.to_thread(trace_and_fold, *request)
            except BaseException:  # cancelled mid-request: the stream is out of step
                await self._stop(kill=True)
                raise
        if status != "ok":
            raise FoldWorkerFailed(str(value))
        return value  # type: ignore[return-value]

    async def _ask(self, request: tuple[object, ...]) -> tuple[str, object]:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (_ROOT, os.environ.get("PYTHONPATH", "")) if p
                ),
            }
            proc = self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from crdt.fold_worker import serve; serve()",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
        assert proc.stdin is not None and proc.stdout is not None
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        proc.stdin.write(len(data).to_bytes(_HEADER, "big") + data)
        await proc.stdin.drain()
        header = await proc.stdout.readexactly(_HEADER)
        reply = pickle.loads(await proc.stdout.readexactly(int.from_bytes(header, "big")))
        return reply  # type: ignore[no-any-return]

    def pids(self) -> list[int]:
        """The worker process's id while it runs (diagnostics, tests)."""
        proc = self._proc
        return [proc.pid] if proc is not None and proc.returncode is None else []

    async def _stop(self, *, kill: bool) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        if kill:
            proc.kill()
        elif proc.stdin is not None:
            proc.stdin.close()  # the worker's loop ends at end of input
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def close(self) -> None:
        """Let the worker finish and exit (shutdown)."""
        await self._stop(kill=False)
