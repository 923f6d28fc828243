"""Which callback held the event loop: a development and benchmark aid, off unless asked for.

The loop-lag probe (server/ops/loop_lag.py) says *that* the loop stalled, not *what* ran
(issue 16). With `SAMPLAN_STALL_TRACE=PATH` the server times every handle the loop runs
(`asyncio.events.Handle._run`, a task's step included) and every garbage collection; one that
took longer than `SAMPLAN_STALL_TRACE_MS` (default 3) is written to PATH as one JSON line:
when (seconds since the trace started), how long (wall and the main thread's CPU: a stall
with little CPU waited for the GIL or for a CPU the machine's other work held), what ran
(the callback or the task's coroutine) and the main thread's stack as a watchdog thread saw
it while the handle was still running (sampled every millisecond it can get the GIL), so the slow
function is named, not only the coroutine that called it. While pure Python holds the loop
the watchdog gets the GIL only every switch interval (5 ms): `SAMPLAN_STALL_TRACE_SWITCH_MS=1`
samples finer, but changes how threads take turns (fewer stalls waiting for the GIL, for one).

It costs four clock reads per handle and a thread that wakes every millisecond: a traced
server's figures are perturbed a little, so the table of record is measured without it.
Never for production; nothing here reads or writes plan content (stacks are code locations).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

ENV_PATH = "SAMPLAN_STALL_TRACE"
ENV_MS = "SAMPLAN_STALL_TRACE_MS"
ENV_SWITCH_MS = "SAMPLAN_STALL_TRACE_SWITCH_MS"
STACK_DEPTH = 22  # innermost frames kept per sample


class StallTrace:
    """One per process; `install_from_env()` makes it when the environment asks for it."""

    def __init__(self, path: Path, threshold: float) -> None:
        self.path = path
        self.threshold = threshold
        self._out: TextIO = path.open("a", encoding="utf-8")
        self._t0 = time.perf_counter()
        self._main = threading.get_ident()
        self._current: Any = None  # the handle running now, or None
        self._started = 0.0
        self._samples: Counter[str] = Counter()
        self._gc_started = 0.0
        self._gc_cpu = 0.0
        self._stop = threading.Event()
        self._original_run = asyncio.events.Handle._run

    def install(self) -> None:
        trace = self
        original = self._original_run

        def _run(handle: asyncio.Handle) -> None:
            if threading.get_ident() != trace._main:  # another loop (a worker thread)
                original(handle)
                return
            outer = trace._current  # nested loops (run_until_complete inside a handle)
            trace._current = handle
            trace._started = started = time.perf_counter()
            trace._samples = Counter()
            cpu = time.thread_time()
            try:
                original(handle)
            finally:
                took = time.perf_counter() - started
                cpu = time.thread_time() - cpu
                samples = trace._samples
                trace._current = outer
                if took >= trace.threshold:
                    trace._write(
                        {
                            "t": round(started - trace._t0, 3),
                            "ms": round(took * 1000, 2),
                            "cpu_ms": round(cpu * 1000, 2),
                            "what": describe(handle),
                            "stacks": samples.most_common(4),
                        }
                    )

        asyncio.events.Handle._run = _run  # type: ignore[method-assign, assignment]
        gc.callbacks.append(self._on_gc)
        threading.Thread(target=self._watch, name="stall-trace", daemon=True).start()
        self._write({"t": 0.0, "start": True, "threshold_ms": self.threshold * 1000})

    def uninstall(self) -> None:
        asyncio.events.Handle._run = self._original_run  # type: ignore[method-assign]
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._stop.set()
        self._out.close()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            self._gc_cpu = time.thread_time()
            return
        took = time.perf_counter() - self._gc_started
        cpu = time.thread_time() - self._gc_cpu
        if took >= self.threshold / 3 or info.get("generation") == 2:
            self._write(
                {
                    "t": round(self._gc_started - self._t0, 3),
                    "ms": round(took * 1000, 2),
                    "cpu_ms": round(cpu * 1000, 2),
                    "what": f"gc gen{info.get('generation')}",
                    "collected": info.get("collected"),
                }
            )

    def _watch(self) -> None:
        """Sample the main thread's stack while one handle has run longer than the threshold."""
        main = self._main
        while not self._stop.wait(0.001):
            handle, started = self._current, self._started
            if handle is None or time.perf_counter() - started < self.threshold:
                continue
            frame = sys._current_frames().get(main)
            if frame is not None and self._current is handle and self._started == started:
                self._samples[stack_of(frame)] += 1

    def _write(self, record: dict[str, Any]) -> None:
        try:
            self._out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._out.flush()
        except ValueError:  # closed at shutdown
            pass


def describe(handle: asyncio.Handle) -> str:
    """The coroutine a task step advanced (with the task's name), else the callback."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        name = getattr(coro, "__qualname__", repr(coro))
        return f"task {owner.get_name()}: {name}"
    return getattr(callback, "__qualname__", repr(callback))


def stack_of(frame: FrameType | None) -> str:
    """`file:line function` of the innermost frames, innermost last, paths from the repo."""
    parts: list[str] = []
    while frame is not None and len(parts) < STACK_DEPTH:
        code = frame.f_code
        parts.append(f"{_short(code.co_filename)}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return " < ".join(parts)


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    cwd = os.getcwd() + os.sep
    return filename[len(cwd) :] if filename.startswith(cwd) else filename


_installed: StallTrace | None = None


def install_from_env() -> StallTrace | None:
    """Start tracing when `SAMPLAN_STALL_TRACE` names a file; once per process."""
    global _installed
    path = os.environ.get(ENV_PATH)
    if not path or _installed is not None:
        return _installed
    threshold = float(os.environ.get(ENV_MS, "3")) / 1000
    switch = os.environ.get(ENV_SWITCH_MS)
    if switch:
        sys.setswitchinterval(float(switch) / 1000)
    _installed = StallTrace(Path(path), threshold)
    _installed.install()
    return _installed


def uninstall() -> None:
    global _installed
    if _installed is not None:
        _installed.uninstall()
        _installed = None
