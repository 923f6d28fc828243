"""The printable page as PDF/A, with WeasyPrint (pure Python over Pango: Debian's
libpango-1.0-0 and libpangoft2-1.0-0, which scripts/setup installs).

PDF/A-2a: PDF/A-2 is what Arkivverket takes for deposit (PDF/A-3 allows embedded files of any
kind and is not on its list), and level "a" makes the PDF tagged, so a screen reader can follow
headings, lists and tables (Uu-tilsynet's advice for documents that must be both archived and
universally designed). WeasyPrint writes the XMP `pdfaid` part and conformance itself.

Rendering is CPU work of a second or so for a large plan: call `render_pdf` from a worker thread
(`asyncio.to_thread`), never on the event loop. One render at a time: on two cores a second
concurrent render only slows both and the live editing beside them.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("samplan.pdf")
# WeasyPrint logs each rendering step at INFO; ours is the one line that matters.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

PDF_VARIANT = "pdf/a-2a"
STYLESHEET = Path(__file__).resolve().parent.parent / "client" / "static" / "print.css"
_lock = threading.Lock()


def render_pdf(html: str) -> bytes:
    """The page (print.html rendered with for_pdf=True) as PDF/A bytes. Blocking."""
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):  # type: ignore[misc]
        """The page refers to nothing outside itself; a link in user text is never fetched."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError("Samplan's PDF fetches no resources")

    with _lock:
        started = time.perf_counter()
        # Both steps take the options: the variant shapes the layout (tags) and the file.
        options = {"stylesheets": [CSS(filename=str(STYLESHEET))], "pdf_variant": PDF_VARIANT}
        document = HTML(string=html, url_fetcher=NoFetch()).render(**options)
        pdf: bytes = document.write_pdf(**options)
        log.info(
            "pdf rendered pages=%d bytes=%d ms=%.0f",
            len(document.pages),
            len(pdf),
            (time.perf_counter() - started) * 1000,
        )
    return pdf
