"""A traced zone's compaction replays in a worker process (crdt/fold_worker.py): pycrdt holds
the GIL through each call, so in a thread it stalled the event loop. Same answer as in
process; a worker that dies or hangs costs one compaction in a thread, and the next starts a
new one."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from pycrdt import Doc, Text

from crdt.authorship import trace_and_fold
from crdt.fold_worker import FoldWorker


def _log() -> list[tuple[int, bytes]]:
    doc: Doc = Doc(client_id=7)  # type: ignore[type-arg]
    text = doc.get("t", type=Text)
    updates = []
    for seq, words in enumerate(["Åse Ødegård 😀 ", "skriver om blåbær 🫐 ", "og fritid ⚽"], 1):
        state = doc.get_state()
        text += words
        updates.append((seq, doc.get_update(state)))
    return updates


def _text(update: bytes) -> str:
    doc: Doc = Doc()  # type: ignore[type-arg]
    doc.apply_update(update)
    return str(doc.get("t", type=Text))


async def test_the_worker_process_answers_as_the_replay_in_process_would() -> None:
    updates = _log()
    worker = FoldWorker()
    try:
        traces, snapshot = await worker.trace_and_fold("content", None, updates, {1, 2, 3})
        assert worker.pids() and os.getpid() not in worker.pids()
        expected_traces, expected_snapshot = trace_and_fold("content", None, updates, {1, 2, 3})
        assert traces == expected_traces and set(traces) == {1, 2, 3}
        assert (
            _text(snapshot)
            == _text(expected_snapshot)
            == "Åse Ødegård 😀 skriver om blåbær 🫐 og fritid ⚽"
        )
    finally:
        await worker.close()
    assert worker.pids() == []


async def test_a_dead_worker_costs_one_compaction_in_a_thread_then_a_new_one_starts() -> None:
    updates = _log()
    worker = FoldWorker()
    try:
        await worker.trace_and_fold("content", None, updates[:1], {1})
        (first,) = worker.pids()
        os.kill(first, 9)
        _, snapshot = await worker.trace_and_fold("content", None, updates, {1, 2, 3})
        assert _text(snapshot) == "Åse Ødegård 😀 skriver om blåbær 🫐 og fritid ⚽"
        _, again = await worker.trace_and_fold("content", None, updates[:2], {1, 2})
        assert _text(again) == "Åse Ødegård 😀 skriver om blåbær 🫐 "
        (second,) = worker.pids()
        assert second != first
    finally:
        await worker.close()


async def test_a_hung_worker_is_killed_after_answer_within_and_the_compaction_runs_in_a_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stopped process stands for a hung one: it takes the request and never answers.
    Without the limit the compaction (and a shutdown waiting for it) waited forever."""
    updates = _log()
    worker = FoldWorker()
    try:
        await worker.trace_and_fold("content", None, updates[:1], {1})
        (hung,) = worker.pids()
        os.kill(hung, signal.SIGSTOP)
        worker.answer_within = 0.5
        _, snapshot = await asyncio.wait_for(
            worker.trace_and_fold("content", None, updates, {1, 2, 3}), timeout=30
        )
        assert _text(snapshot) == "Åse Ødegård 😀 skriver om blåbær 🫐 og fritid ⚽"
        assert "compaction worker process failed (TimeoutError)" in caplog.text
        assert hung not in worker.pids()
        worker.answer_within = 60.0
        _, again = await worker.trace_and_fold("content", None, updates[:2], {1, 2})
        assert _text(again) == "Åse Ødegård 😀 skriver om blåbær 🫐 "
        (second,) = worker.pids()
        assert second != hung
    finally:
        await worker.close()
