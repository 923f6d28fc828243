"""UI language: Norwegian bokmål by default, English selectable.

The strings live in client/i18n/<lang>.json, shared with the browser bundle, so the server
and the page never disagree on a word. A missing key shows the key itself (visible in review,
never a crash).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from starlette.requests import Request

LANGUAGES = ("nb", "en")
DEFAULT_LANGUAGE = "nb"
LANG_COOKIE = "samplan_lang"
I18N_DIR = Path(__file__).resolve().parent.parent / "client" / "i18n"


@cache
def strings(lang: str) -> dict[str, str]:
    path = I18N_DIR / f"{lang}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def translator(lang: str) -> Callable[[str], str]:
    table = strings(lang)
    fallback = strings(DEFAULT_LANGUAGE)

    def t(key: str) -> str:
        return table.get(key) or fallback.get(key) or key

    return t


def language_of(request: Request) -> str:
    """?lang= wins (and is remembered by the caller), then the cookie, then bokmål."""
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE
