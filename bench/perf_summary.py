"""Where a server's CPU went, from a `perf record -g` file (`bench/run.py --perf DIR`).

py-spy sees Python frames only, and for Samplan under burst about two thirds of the main
thread sat in uvloop's C loop, where it cannot look. perf samples every server alike (Python,
Node, their native libraries, the kernel, child processes), so the same table can be put
beside the floor's and a peer's: CPU time by thread, by the library the sample was in, and the
kernel's share by the user-space call that entered it (`write` is the socket sends, `fdatasync`
the durable commit). With `--deliveries N` every line is also given in µs per delivery, the
unit of the benchmark's "server CPU per delivered update" (take N from the same round's row:
deliveries/s times the seconds the profile covered; perf covers the server's whole life after
it listens, so N is roughly the round's paced edits' deliveries plus the clients' start).

    python bench/perf_summary.py /tmp/perf/burst.samplan-sqlite.r1.data --deliveries 97800
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^\s*[0-9a-f]+\s+(?P<sym>.*?)\s+\((?P<dso>.*)\)$")
_HEAD = re.compile(r"^(?P<comm>.+?)\s+(?P<pid>\d+)/(?P<tid>\d+)\s+(?P<period>\d+)")


@dataclass(frozen=True)
class Sample:
    comm: str
    pid: int
    tid: int
    ns: int
    frames: tuple[tuple[str, str], ...]  # (symbol, library), leaf first


def script(path: Path) -> str:
    """The samples as `perf script` prints them, in the fields `parse` reads."""
    return subprocess.run(
        ["perf", "script", "-i", str(path), "-F", "comm,pid,tid,period,ip,sym,dso"],
        check=True,
        capture_output=True,
        text=True,
        errors="replace",
    ).stdout


def parse(script: str) -> Iterator[Sample]:
    for block in script.split("\n\n"):
        lines = block.strip("\n").split("\n")
        head = _HEAD.match(lines[0].strip()) if lines and lines[0].strip() else None
        if head is None:
            continue
        frames = []
        for line in lines[1:]:
            frame = _FRAME.match(line)
            if frame:
                symbol = frame["sym"].split("+0x")[0]
                frames.append((symbol, frame["dso"].rsplit("/", 1)[-1]))
        yield Sample(
            head["comm"], int(head["pid"]), int(head["tid"]), int(head["period"]), tuple(frames)
        )


def _kernel(library: str) -> bool:
    return library.startswith("[kernel")


def summarize(all_samples: list[Sample], deliveries: int | None, top: int) -> str:
    total = sum(s.ns for s in all_samples)
    if total == 0:
        return "no samples\n"
    main_pid = Counter(s.pid for s in all_samples).most_common(1)[0][0]
    threads: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    syscalls: Counter[str] = Counter()
    for s in all_samples:
        if s.pid != main_pid:
            where = f"child process {s.pid} ({s.comm})"
        elif s.tid == main_pid:
            where = f"main thread ({s.comm})"
        else:
            where = f"thread {s.tid} ({s.comm})"
        threads[where] += s.ns
        libraries[s.frames[0][1] if s.frames else "?"] += s.ns
        if s.frames and _kernel(s.frames[0][1]):
            caller = next((sym for sym, lib in s.frames if not _kernel(lib)), "?")
            syscalls[caller] += s.ns

    def line(label: str, ns: int) -> str:
        per = f"  {ns / 1000 / deliveries:7.2f} µs/delivery" if deliveries else ""
        return f"  {100 * ns / total:5.1f} %  {ns / 1e9:7.3f} s{per}  {label}\n"

    out = [line("all", total), "by thread or process:\n"]
    out += [line(k, v) for k, v in threads.most_common(top)]
    out.append("by library the sample was in:\n")
    out += [line(k, v) for k, v in libraries.most_common(top)]
    out.append("in the kernel, by the user-space call that entered it:\n")
    out += [line(k, v) for k, v in syscalls.most_common(top)]
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, nargs="+", help="perf.data files")
    parser.add_argument("--deliveries", type=int, help="deliveries in the profiled window")
    parser.add_argument("--top", type=int, default=10, help="lines per table (default 10)")
    args = parser.parse_args(argv)
    for path in args.data:
        print(f"{path}:")
        print(summarize(list(parse(script(path))), args.deliveries, args.top), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
