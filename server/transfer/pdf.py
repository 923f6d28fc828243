"""The printable page as PDF/A, with WeasyPrint (pure Python over Pango: Debian's
libpango-1.0-0 and libpangoft2-1.0-0, which scripts/setup installs).

PDF/A-2a: PDF/A-2 is what Arkivverket takes for deposit (PDF/A-3 allows embedded files of any
kind and is not on its list), and level "a" makes the PDF tagged, so a screen reader can follow
headings, lists and tables (Uu-tilsynet's advice for documents that must be both archived and
universally designed). WeasyPrint writes the XMP `pdfaid` part and conformance itself.

Rendering takes from a few hundred milliseconds to seconds of CPU, and WeasyPrint holds the GIL
in long stretches: in a thread of the server's process it stalled the event loop (and so live
editing) by up to 0.4 s on this 2-core machine. So it runs in one worker process of its own,
started on first use and kept (importing WeasyPrint takes a while); renders queue for it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

log = logging.getLogger("samplan.pdf")

PDF_VARIANT = "pdf/a-2a"
STYLESHEET = Path(__file__).resolve().parents[2] / "client" / "static" / "print.css"


def render_pdf(html: str) -> tuple[bytes, int, float]:
    """(PDF/A bytes, pages, seconds) of the page (print.html rendered with for_pdf=True).
    Blocking and CPU-bound: call it through `PdfRenderer`, not on the event loop."""
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):  # type: ignore[misc]
        """The page refers to nothing outside itself; a link in user text is never fetched."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError("Samplan's PDF fetches no resources")

    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    started = time.perf_counter()
    # Both steps take the options: the variant shapes the layout (tags) and the file.
    options = {"stylesheets": [CSS(filename=str(STYLESHEET))], "pdf_variant": PDF_VARIANT}
    document = HTML(string=html, url_fetcher=NoFetch()).render(**options)
    pdf: bytes = document.write_pdf(**options)
    return pdf, len(document.pages), time.perf_counter() - started


class PdfRenderer:
    """One worker process for every PDF of this server (owned by Services)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def render(self, html: str) -> bytes:
        if self._pool is None:
            # spawn, not fork: the server's process has threads (database, audit) that a
            # forked child would inherit in whatever state they were.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        pool = self._pool
        started = time.perf_counter()
        try:
            pdf, pages, seconds = await asyncio.get_running_loop().run_in_executor(
                pool, render_pdf, html
            )
        except BrokenProcessPool:
            # The worker died (killed, out of memory): start a new one next time.
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        log.info(
            "pdf rendered pages=%d bytes=%d render_ms=%.0f total_ms=%.0f",
            pages,
            len(pdf),
            seconds * 1000,
            (time.perf_counter() - started) * 1000,
        )
        return pdf

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
