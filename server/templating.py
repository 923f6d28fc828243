"""Render client/templates with the context every page needs (language, user, CSRF)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from server.i18n import LANG_COOKIE, LANGUAGES, language_of, translator
from server.security import csrf_token, set_csrf_cookie

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "client" / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _other_lang_url(request: Request, lang: str) -> str:
    """The same page in the other language. Only `next` is carried over: never echo other
    query parameters (an OIDC callback's code and state) into the page."""
    other = next(code for code in LANGUAGES if code != lang)
    query = {"lang": other}
    if "next" in request.query_params:
        query["next"] = request.query_params["next"]
    return f"{request.url.path}?{urlencode(query)}"


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
        "other_lang_url": _other_lang_url(request, lang),
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
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax")
    return response
