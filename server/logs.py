"""Logging set-up: events only, and never a token (uvicorn logs WebSocket URLs with the query)."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(token=)[^&\s\"']+")


class ScrubTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg = _TOKEN.sub(r"\1[scrubbed]", message)
            record.args = ()
        return True


_SCRUB = ScrubTokens()


def install_token_scrubber() -> None:
    """Filter the loggers uvicorn writes URLs to (idempotent: a filter is added once)."""
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if _SCRUB not in logger.filters:
            logger.addFilter(_SCRUB)
        for handler in logger.handlers:
            if _SCRUB not in handler.filters:
                handler.addFilter(_SCRUB)


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_token_scrubber()
