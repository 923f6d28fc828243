"""The KE overview's requests in one process, wall and CPU time, minimum of N: the figure a
loaded machine disturbs least (issue 14). The app is called through httpx's ASGI transport
(no socket, no other process), on a database `bench/ke_overview.py --work DIR` filled.

    .venv/bin/python bench/ke_overview.py --work /tmp/ke --runs 1 --server-only
    .venv/bin/python bench/ke_overview_inprocess.py /tmp/ke [--runs 9] [--profile first]

"cold" drops what the overview keeps (as saving the rules does) before each request; "warm"
asks again. `--profile NAME` prints cProfile's top functions of one cold and one warm request.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.ke_overview import ADMIN, FILTERED, PASSWORD  # noqa: E402
from server.app import create_app  # noqa: E402
from server.ke import overview  # noqa: E402
from server.settings import Settings  # noqa: E402


async def main(work: Path, runs: int, profile: str | None, muni: int) -> None:
    settings = Settings(
        var_dir=work / "var",
        database_url=f"sqlite+aiosqlite:///{work / 'ke.sqlite3'}",
        secret_key="ke-bench-ikke-hemmelig",
    )
    paths = {
        "first": f"/ke/{muni}",
        "filtered": f"/ke/{muni}?{FILTERED}",
        "csv": f"/ke/{muni}/overview.csv",
    }
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            page = await http.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            form = {"email": ADMIN, "password": PASSWORD, "csrf_token": token.group(1)}
            await http.post("/login", data=form)
            print(f"load average {os.getloadavg()[0]:.1f}; minimum of {runs}, wall / CPU:")
            for name, path in paths.items():
                for mode in ("cold", "warm"):
                    walls, cpus = [], []
                    for _ in range(runs + 1):
                        if mode == "cold":
                            overview._evaluated.clear()
                        wall, cpu = time.perf_counter(), time.process_time()
                        answer = await http.get(path)
                        walls.append((time.perf_counter() - wall) * 1000)
                        cpus.append((time.process_time() - cpu) * 1000)
                        assert answer.status_code == 200, (path, answer.status_code)
                    print(f"  {name:9s} {mode}: {min(walls[1:]):7.1f} / {min(cpus[1:]):6.1f} ms")
            if profile:
                for mode in ("cold", "warm"):
                    if mode == "cold":
                        overview._evaluated.clear()
                    profiler = cProfile.Profile()
                    profiler.enable()
                    await http.get(paths[profile])
                    profiler.disable()
                    print(f"--- {profile}, {mode}")
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="the --work DIR of bench/ke_overview.py")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--municipality", type=int, default=1)
    parser.add_argument("--profile", choices=("first", "filtered", "csv"), default=None)
    args = parser.parse_args()
    asyncio.run(main(args.work, args.runs, args.profile, args.municipality))
