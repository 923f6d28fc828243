"""The notification pages: the list (`/notifications`), opening one (marks it read, then goes
straight to the item), the unread count for the header's bell, marking a plan's messages
read, and the e-mail preferences (`/settings/notifications`: which kinds by e-mail, and the
language of Samplan and of the user's e-mail). Every POST needs the CSRF token; a bad request
gets a clear message and changes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from server.core.clock import OSLO
from server.services import Services
from server.web.errors import BadRequest, Forbidden, LoginRequired, NotFound
from server.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, language_of, translator
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.session import current_user
from server.web.templating import remember_in_browser, render
from storage.models import NOTIFICATION_KINDS


def _when(moment: datetime) -> str:
    return moment.astimezone(OSLO).strftime("%d.%m.%Y %H:%M")


async def _posted(request: Request) -> tuple[Any, Services, FormData]:
    """The signed-in user behind a POST with a valid form token; raises a PageError if not."""
    user = await current_user(request)
    if user is None:
        raise LoginRequired()
    services: Services = request.app.state.services
    form = await request.form()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("notify.error.expired_form")
    return user, services, form


async def notifications_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        raise LoginRequired()
    services: Services = request.app.state.services
    titles = {plan.id: plan.title for plan, _, _ in await services.plans.overview_for_user(user.id)}
    items = [
        {
            "id": n.id,
            "kind": n.kind,
            "plan_title": titles.get(n.plan_id),
            "when": _when(n.created_at),
            "iso": n.created_at.isoformat(),
            "unread": n.read_at is None,
        }
        for n in await services.repos.notifications.list_for_user(user.id)
        if n.plan_id in titles  # a plan the user has left is no longer shown
    ]
    unread = sum(1 for i in items if i["unread"])
    return render(request, "notifications.html", {"items": items, "unread": unread}, user=user)


async def notification_open(request: Request) -> Response:
    """POST: mark one notification read and go to its item."""
    user, services, form = await _posted(request)
    try:
        notification_id = int(request.path_params["notification_id"])
    except ValueError:
        raise NotFound() from None
    repo = services.repos.notifications
    found = await repo.get(user.id, notification_id)
    if found is None:
        raise NotFound()
    await repo.mark_read(user.id, notification_id=notification_id)
    await services.notifier.tell_count(user.id)
    link = found.link if found.link.startswith("/") and not found.link.startswith("//") else "/"
    return RedirectResponse(link, status_code=303)


async def notifications_read_all(request: Request) -> Response:
    user, services, form = await _posted(request)
    await services.repos.notifications.mark_read(user.id)
    await services.notifier.tell_count(user.id)
    return RedirectResponse("/notifications", status_code=303)


async def unread_count(request: Request) -> Response:
    """JSON for the header's bell: `{"unread": n}` (a count, nothing else)."""
    user = await current_user(request)
    if user is None:
        return JSONResponse({"error": "not authenticated"}, status_code=401)
    services: Services = request.app.state.services
    count = await services.repos.notifications.unread_count(user.id)
    return JSONResponse({"unread": count}, headers={"cache-control": "no-store"})


async def messages_read(request: Request) -> Response:
    """POST from the plan page when its Meldinger section is open: the plan's message
    notifications are read. Answers JSON with the user's remaining unread count."""
    user = await current_user(request)
    if user is None:
        return JSONResponse({"error": "not authenticated"}, status_code=401)
    services: Services = request.app.state.services
    form = await request.form()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        return JSONResponse({"error": "invalid or expired form token"}, status_code=403)
    plan_id = request.path_params["plan_id"]
    if await services.plans.get_membership(plan_id, user.id) is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    repo = services.repos.notifications
    changed = await repo.mark_read(user.id, plan_id=plan_id, kind="message")
    if changed:
        await services.notifier.tell_count(user.id)
    return JSONResponse({"unread": await repo.unread_count(user.id), "marked": changed})


async def settings_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        raise LoginRequired()
    return await _render_settings(request, user, saved=request.query_params.get("saved") == "1")


async def _render_settings(
    request: Request,
    user: Any,
    *,
    saved: bool = False,
    error: str | None = None,
    status: int = 200,
) -> Response:
    services: Services = request.app.state.services
    prefs = await services.repos.notifications.email_prefs(user.id)
    context = {
        "kinds": [{"kind": k, "email": prefs[k]} for k in NOTIFICATION_KINDS],
        "saved": saved,
        "smtp": bool(services.settings.smtp_host),
        "language": user.language or DEFAULT_LANGUAGE,  # what their e-mail is written in
        "languages": LANGUAGES,
        "error": error,
    }
    return render(request, "notification_settings.html", context, user=user, status_code=status)


async def settings_submit(request: Request) -> Response:
    user, services, form = await _posted(request)
    chosen = [str(v) for v in form.getlist("email")]
    if any(kind not in NOTIFICATION_KINDS for kind in chosen):
        raise BadRequest("notify.error.bad")
    language = form.get("language")  # absent: left as it was
    if language is not None and language not in LANGUAGES:
        t = translator(language_of(request))
        return await _render_settings(request, user, error=t("prefs.error.language"), status=400)
    prefs = {kind: kind in chosen for kind in NOTIFICATION_KINDS}
    await services.repos.notifications.set_email_prefs(user.id, prefs)
    response = RedirectResponse("/settings/notifications?saved=1", status_code=303)
    if isinstance(language, str):
        await services.repos.users.set_language(user.id, language)
        remember_in_browser(response, language)  # this browser's pages follow at once
    return response
