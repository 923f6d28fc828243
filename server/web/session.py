"""Who is signed in, for every page: the session cookie looked up server-side.

In the page kit rather than with the log-in pages, so a page (and the plan visit) learns who
is asking without importing the log-in capability.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from server.core.sessions import SESSION_COOKIE
from server.services import Services
from server.web.i18n import note_account_language, switched_to


async def current_user(request: Request) -> Any:
    """The signed-in user, or None. A `?lang=` switch on this request is remembered on their
    account (their e-mail follows it), and their choice is noted for this request's pages."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    services: Services = request.app.state.services
    user_id = await services.sessions.user_for(raw, services.settings.session_idle_seconds)
    user = await services.repos.users.get(user_id) if user_id is not None else None
    if user is not None:
        switched = switched_to(request)
        if switched is not None and switched != user.language:
            await services.repos.users.set_language(user.id, switched)
            user.language = switched
        note_account_language(request, user.language)
    return user
