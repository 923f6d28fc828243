"""UI language: Norwegian bokmål by default, nynorsk and English selectable.

The strings live in client/i18n/<lang>.json, shared with the browser bundle, so the server
and the page never disagree on a word. A key missing from nynorsk or English shows the bokmål
text (a reader of either understands it), one missing everywhere the key itself (visible in
review, never a crash).

Who chose what: a `?lang=` link (remembered in a cookie, and for a signed-in user on their
account, `users.language`), the cookie, then the account's choice (a browser that never chose
shows the language its user chose elsewhere), then bokmål. E-mail has no browser: it is
written in the account's language (server.notify.notifier).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from starlette.requests import Request

from storage.choices import LANGUAGES as LANGUAGES  # re-exported: the pages use it

DEFAULT_LANGUAGE = LANGUAGES[0]
LANG_COOKIE = "samplan_lang"
I18N_DIR = Path(__file__).resolve().parents[2] / "client" / "i18n"


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


def switched_to(request: Request) -> str | None:
    """The language a `?lang=` link on this request switches to, if it names one we speak."""
    wanted = request.query_params.get("lang")
    return wanted if wanted in LANGUAGES else None


def browser_language(request: Request) -> str | None:
    """This browser's choice: `?lang=` now, else the cookie an earlier one left."""
    wanted = switched_to(request) or request.cookies.get(LANG_COOKIE)
    return wanted if wanted in LANGUAGES else None


def note_account_language(request: Request, language: str | None) -> None:
    """Called once the signed-in user is known (server.auth.pages.current_user), so every
    later `language_of` on this request can fall back on the account's choice."""
    request.state.account_language = language


def language_of(request: Request) -> str:
    """?lang= wins (and is remembered by the caller), then the cookie, then the signed-in
    user's own choice, then bokmål."""
    account = getattr(request.state, "account_language", None)
    wanted = browser_language(request) or account
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE
