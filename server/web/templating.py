"""Render client/templates with the context every page needs (language, user, CSRF)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from server.web.i18n import LANG_COOKIE, LANGUAGES, language_of, switched_to, translator
from server.web.security import csrf_token, set_csrf_cookie

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "client" / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


# Never echoed into a page's language link: an OIDC callback's one-time code and state, or a
# token, would otherwise sit in the page for anyone who copies the link.
NOT_CARRIED = frozenset({"lang", "code", "state", "session_state", "token", "id_token"})


def _lang_url(request: Request, code: str) -> str:
    """The same page in language `code`: the path and every other query parameter as they
    were (an access log's filters and page number, a `next`), with only `lang` replaced.
    Re-encoded here, so a value with æøå or spaces survives and nothing breaks out of the
    query. The path is percent-encoded, and a path starting "//" is not left to read as
    another host."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in NOT_CARRIED]
    path = quote(request.scope["path"])
    if path.startswith("//"):
        path = "/%2F" + path[2:]
    return f"{path}?{urlencode([*kept, ('lang', code)])}"


def language_links(request: Request, lang: str) -> list[dict[str, Any]]:
    """The header's language switch: every language we speak, named in itself (a reader who
    does not understand the page's language still finds their own), the one shown marked
    current and the others linking to this page in that language."""
    return [
        {
            "code": code,
            "name": translator(code)("language.self"),
            "url": _lang_url(request, code),
            "current": code == lang,
        }
        for code in LANGUAGES
    ]


def render_to_string(
    request: Request, template: str, context: dict[str, Any] | None = None, *, user: Any = None
) -> str:
    """The page as text, with the context every page gets (the PDF renders this)."""
    secret: str = request.app.state.services.secret_key
    lang = language_of(request)
    values = {
        "request": request,
        "lang": lang,
        "t": translator(lang),
        "user": user,
        "csrf_token": csrf_token(request, secret),
        "language_links": language_links(request, lang),
        **(context or {}),
    }
    return _env.get_template(template).render(values)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    user: Any = None,
) -> HTMLResponse:
    secret: str = request.app.state.services.secret_key
    lang = language_of(request)
    html = render_to_string(request, template, context, user=user)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["cache-control"] = "no-store"  # pages hold health data
    set_csrf_cookie(response, request, secret)
    if switched_to(request):
        remember_in_browser(response, lang)
    return response


def remember_in_browser(response: Response, lang: str) -> None:
    """The language cookie: this browser's choice, for a year."""
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax")
