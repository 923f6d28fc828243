"""The Starlette application: routes plus a lifespan that owns every resource."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from pycrdt import Doc
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from server.auth.accounts import (
    account_deactivate,
    account_name,
    account_page,
    account_password,
    member_deactivate,
)
from server.auth.invitations import (
    invitation_page,
    invitation_submit,
    invitations_section,
    invite_submit,
    resend_submit,
    withdraw_submit,
)
from server.auth.oidc import invitation_oidc, oidc_callback, oidc_login
from server.auth.pages import (
    login_page,
    login_submit,
    logout,
    session_continue,
    session_status,
)
from server.auth.reset import forgot_page, forgot_submit, reset_page, reset_submit
from server.ke.csv_export import ke_overview_csv
from server.ke.log_csv import ke_access_csv
from server.ke.log_review import ke_access_page
from server.ke.log_settings import ke_log_settings
from server.ke.pages import ke_home, ke_overview, ke_settings
from server.ke.routes import admin_routes as ke_admin_routes
from server.ke.start import PlanStarter, register_plan_starter
from server.ke.statements import public_routes as statement_routes
from server.logs import install_log_privacy
from server.meetings.notes import (
    note_add,
    note_answer,
    note_delete,
    note_edit,
    note_get,
    note_propose,
    notes_list,
)
from server.meetings.pages import (
    action_to_measure,
    cancel_meeting,
    edit_meeting,
    meeting_calendar,
    minutes_page,
    new_meeting,
)
from server.meetings.published import (
    approve_minutes,
    minutes_json,
    publish_minutes,
    published_fragment,
    published_page,
    published_section,
)
from server.meetings.scheduling import meetings_section
from server.notify.pages import (
    messages_read,
    notification_open,
    notifications_page,
    notifications_read_all,
    settings_page,
    settings_submit,
    unread_count,
)
from server.ops.metrics_page import metrics_endpoint
from server.plans.access_log import access_log_page
from server.plans.comments import (
    comment_add,
    comment_delete,
    comment_edit,
    comment_hide,
    comment_resolve,
    message_add,
    message_edit,
)
from server.plans.consent import consent_submit
from server.plans.item_history import area_changes_json, content_changes_json
from server.plans.lifecycle_pages import close_submit, delete_submit, reopen_submit
from server.plans.members import handover_submit, member_remove, member_submit
from server.plans.min_plan import min_plan_page
from server.plans.pages import home, my_plans, plan_page
from server.plans.start_pages import (
    area_add,
    area_change,
    area_rows,
    areas_json,
    new_plan,
    plan_consent_submit,
    start_from_form,
)
from server.services import Services
from server.settings import Settings
from server.sync.endpoint import SyncEndpoint
from server.sync.events import events_endpoint
from server.transfer.pages import export_json, export_pdf, print_page
from server.versions.pages import (
    create_version,
    history_page,
    restore_version,
    version_page,
)
from server.web.errors import LoginRequired, PageError
from server.web.i18n import language_of, translator
from server.web.sections import register_sections
from server.web.security import SecurityHeaders
from server.web.session import current_user
from server.web.templating import render
from storage.errors import database_unavailable

log = logging.getLogger("samplan.pages")

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"


class RowId(Convertor[int]):
    """A row id in a URL (`{version_id:id}`): at most ten digits, so a 40-digit number is no
    route at all (404), and a ten-digit one past the 32-bit integer columns becomes 0, which
    names no row either: an over-long id answers 404, never a database overflow (500)."""

    regex = "[0-9]{1,10}"
    largest = 2**31 - 1  # PostgreSQL's `integer`

    def convert(self, value: str) -> int:
        number = int(value)
        return number if number <= self.largest else 0

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", RowId())


class SamplanApp(Starlette):
    """Starlette with the security headers outermost. Starlette puts its 500 handler
    (ServerErrorMiddleware) outside every user middleware, so a user middleware never sees
    the 500 page; wrapping the whole stack gives every response, 500 included, the headers."""

    def build_middleware_stack(self) -> ASGIApp:
        return _SyncSocketsFirst(SecurityHeaders(super().build_middleware_stack()))


_SYNC_PREFIX = "/ws/"
_sync_endpoint = SyncEndpoint()


class _SyncSocketsFirst:
    """A sync socket (`/ws/<room>`) goes straight to its endpoint, past the middleware stack
    and the router. Each layer's call stays suspended for as long as its socket is open, and
    idle sockets are most of them: ~10 frames, ~2.5 KB per connection (issue 16, "Memory";
    docs/BENCHMARKS.md). Those layers do nothing for it: the security headers are HTTP only,
    and the endpoint refuses and closes by itself; an error it does not handle reaches uvicorn
    as before (Starlette's handlers re-raise on a WebSocket). Everything else is routed as
    before, `/ws/...` over HTTP included (404)."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "websocket"
            and scope["path"].startswith(_SYNC_PREFIX)
            and not scope.get("root_path")
        ):
            scope["path_params"] = {"room": scope["path"][len(_SYNC_PREFIX) :]}
            await _sync_endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def healthz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    body: dict[str, object] = {
        "status": "ok",
        "rooms": len(services.registry),
        "connections": len(services.connections),
    }
    degraded = []
    if services.database is not None:
        available = await services.database.check()
        body["database"] = "ok" if available else "unavailable"
        if not available:
            # Nothing can be stored: writers are sent away with 1013 until it is back.
            degraded.append("database")
    if services.cluster is not None:
        body["cluster"] = services.cluster.health()
        if not services.cluster.bus.connected:
            # Serving alone: its clients do not see the other nodes' edits until Redis is back.
            degraded.append("redis")
    if degraded:
        body["status"] = "degraded"
        body["degraded"] = degraded  # which parts, for the operator
    return JSONResponse(body)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 500 and database_unavailable(exc):
        # The database is gone for a while (docs/deploy.md): "try again later", not a bug.
        status = 503
    t = translator(language_of(request))
    message = t("error.not_found") if status == 404 else t("error.generic")
    user = await current_user(request) if status < 500 else None
    response = render(
        request, "error.html", {"status": status, "message": message}, status_code=status, user=user
    )
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


async def database_error(request: Request, exc: Exception) -> Response:
    """A page whose database is away or too slow (storage.errors.database_unavailable):
    the 503 "try again shortly" page, logged as one line with the error's type (never its
    text, which may quote a statement's values). Left to the catch-all, every such request
    logged a full traceback for as long as an outage lasted. Any other error of these kinds
    is a bug and goes on to the 500 page, traceback and all."""
    if request.scope["type"] != "http" or not database_unavailable(exc):
        raise exc  # a WebSocket's errors are its endpoint's (1013), never a page
    log.warning(
        "%s %s: 503, database unavailable (%s)",
        request.method,
        request.url.path,
        type(exc).__name__,
    )
    return await http_error(request, exc)


async def page_error(request: Request, exc: Exception) -> Response:
    """The one place a raised PageError becomes a response: the log-in redirect, or
    error.html with its status and sentence and the signed-in user in the header. A request
    that asks for JSON (the plan page's comment and message fetches) gets
    `{"error": sentence}` with the status instead, and 401 rather than the redirect."""
    assert isinstance(exc, PageError)
    if _wants_json(request):
        t = translator(language_of(request))
        if isinstance(exc, LoginRequired):
            return JSONResponse({"error": t("error.login_required")}, status_code=401)
        return JSONResponse({"error": t(exc.key)}, status_code=exc.status)
    if isinstance(exc, LoginRequired):
        next_path = exc.next_path or request.url.path
        return RedirectResponse(f"/login?next={next_path}", status_code=303)
    user = await current_user(request)
    t = translator(language_of(request))  # after current_user: the account's language counts
    context = {"status": exc.status, "message": t(exc.key)}
    return render(request, "error.html", context, status_code=exc.status, user=user)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def freeze_start_up_heap() -> None:
    """Move everything alive after start-up (imports, settings, templates, the services: ~115,000
    objects) out of the garbage collector's sight, once, before the first connection.

    A full collection walks every tracked object; over this heap it held the event loop for
    15-74 ms (docs/BENCHMARKS.md, "Where the time goes under burst"), a stall every relay
    waits for. These objects live as long as the process, so scanning them finds nothing;
    after `gc.freeze()` a full collection sees only what was made since (well under 1 ms).
    The collection first frees start-up's own garbage, so nothing dead is kept.

    SQLAlchemy configures its ORM mappers on the first query that needs them: 14 ms of CPU
    (14-76 ms of the event loop on a busy machine) just after start-up, in a reminders job's
    query (docs/BENCHMARKS.md, "Event-loop stalls: what ran"). Done here, before serving, it
    is start-up's and frozen with the rest.
    Called in the running loop (the lifespan), as the lazy imports below need."""
    configure_mappers()
    # pycrdt's first Doc in a running event loop imports anyio's asyncio back end (6-9 ms):
    # made here, the first room load of a connection does not pay it.
    Doc()
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    install_log_privacy()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await Services.start(settings)
        app.state.services = services
        freeze_start_up_heap()
        # The lag probe measures serving, not start-up's own work (the collection above holds
        # the loop 40-50 ms): started after it on purpose, not by the luck of task order.
        services.metrics.start()
        try:
            yield
        finally:
            await services.stop()
            gc.unfreeze()  # collectable again (an app started in-process, as tests do)

    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/login/oidc", oidc_login, methods=["GET"]),
        Route("/login/oidc/callback", oidc_callback, methods=["GET"], name="oidc_callback"),
        Route("/logout", logout, methods=["POST"]),
        Route("/login/forgot", forgot_page, methods=["GET"]),
        Route("/login/forgot", forgot_submit, methods=["POST"]),
        Route("/login/reset", reset_page, methods=["GET"]),
        Route("/login/reset", reset_submit, methods=["POST"]),
        Route("/account", account_page, methods=["GET"]),
        Route("/account/name", account_name, methods=["POST"]),
        Route("/account/password", account_password, methods=["POST"]),
        Route("/account/deactivate", account_deactivate, methods=["POST"]),
        Route(
            "/plans/{plan_id}/members/{user_id:id}/deactivate", member_deactivate, methods=["POST"]
        ),
        Route("/session", session_status, methods=["GET"]),
        Route("/session", session_continue, methods=["POST"]),
        Route("/plans", my_plans),
        Route("/plans/new", new_plan, methods=["GET", "POST"]),
        Route("/plans/{plan_id}", plan_page),
        Route("/plans/{plan_id}/min", min_plan_page, methods=["GET"]),
        Route("/plans/{plan_id}/consent", consent_submit, methods=["POST"]),
        Route("/plans/{plan_id}/areas/{key}/changes", area_changes_json, methods=["GET"]),
        Route("/plans/{plan_id}/content/changes", content_changes_json, methods=["GET"]),
        Route("/plans/{plan_id}/plan-consent", plan_consent_submit, methods=["POST"]),
        Route("/plans/{plan_id}/areas", areas_json, methods=["GET"]),
        Route("/plans/{plan_id}/areas", area_add, methods=["POST"]),
        Route("/plans/{plan_id}/areas/{key}", area_change, methods=["POST"]),
        Route("/plans/{plan_id}/invitations", invite_submit, methods=["POST"]),
        Route(
            "/plans/{plan_id}/invitations/{invitation_id:id}/resend",
            resend_submit,
            methods=["POST"],
        ),
        Route(
            "/plans/{plan_id}/invitations/{invitation_id:id}/withdraw",
            withdraw_submit,
            methods=["POST"],
        ),
        Route("/invitation/{token}", invitation_page, methods=["GET"]),
        Route("/invitation/{token}", invitation_submit, methods=["POST"]),
        Route("/invitation/{token}/oidc", invitation_oidc, methods=["GET"]),
        Route("/plans/{plan_id}/members/{user_id:id}", member_submit, methods=["POST"]),
        Route("/plans/{plan_id}/members/{user_id:id}/remove", member_remove, methods=["POST"]),
        Route("/plans/{plan_id}/handover", handover_submit, methods=["POST"]),
        Route("/plans/{plan_id}/print", print_page),
        Route("/plans/{plan_id}/export.json", export_json),
        Route("/plans/{plan_id}/export.pdf", export_pdf),
        Route("/plans/{plan_id}/meetings/new", new_meeting, methods=["GET", "POST"]),
        Route("/plans/{plan_id}/meetings/{meeting_id}.ics", meeting_calendar),
        Route("/plans/{plan_id}/meetings/{meeting_id}", minutes_page),
        Route("/plans/{plan_id}/meetings/{meeting_id}/notes", notes_list, methods=["GET"]),
        Route("/plans/{plan_id}/meetings/{meeting_id}/notes", note_add, methods=["POST"]),
        Route("/plans/{plan_id}/meetings/{meeting_id}/notes/{note_id}", note_get, methods=["GET"]),
        Route(
            "/plans/{plan_id}/meetings/{meeting_id}/notes/{note_id}", note_edit, methods=["POST"]
        ),
        Route(
            "/plans/{plan_id}/meetings/{meeting_id}/notes/{note_id}/delete",
            note_delete,
            methods=["POST"],
        ),
        Route(
            "/plans/{plan_id}/meetings/{meeting_id}/notes/{note_id}/propose",
            note_propose,
            methods=["POST"],
        ),
        Route(
            "/plans/{plan_id}/meetings/{meeting_id}/notes/{note_id}/answer",
            note_answer,
            methods=["POST"],
        ),
        Route("/plans/{plan_id}/meetings/{meeting_id}/cancel", cancel_meeting, methods=["POST"]),
        Route("/plans/{plan_id}/meetings/{meeting_id}/edit", edit_meeting, methods=["GET", "POST"]),
        Route(
            "/plans/{plan_id}/meetings/{meeting_id}/actions/{item_id}/measure",
            action_to_measure,
            methods=["POST"],
        ),
        Route("/plans/{plan_id}/messages/read", messages_read, methods=["POST"]),
        Route("/plans/{plan_id}/comments", comment_add, methods=["POST"]),
        Route("/plans/{plan_id}/comments/{item_id}/edit", comment_edit, methods=["POST"]),
        Route("/plans/{plan_id}/comments/{item_id}/delete", comment_delete, methods=["POST"]),
        Route("/plans/{plan_id}/comments/{item_id}/resolve", comment_resolve, methods=["POST"]),
        Route("/plans/{plan_id}/comments/{item_id}/hide", comment_hide, methods=["POST"]),
        Route("/plans/{plan_id}/messages", message_add, methods=["POST"]),
        Route("/plans/{plan_id}/messages/{item_id}/edit", message_edit, methods=["POST"]),
        Route("/notifications", notifications_page, methods=["GET"]),
        Route("/notifications/unread", unread_count, methods=["GET"]),
        Route("/notifications/read", notifications_read_all, methods=["POST"]),
        Route("/notifications/{notification_id:id}/open", notification_open, methods=["POST"]),
        Route("/settings/notifications", settings_page, methods=["GET"]),
        Route("/settings/notifications", settings_submit, methods=["POST"]),
        Route("/plans/{plan_id}/published-minutes", published_fragment),
        Route("/plans/{plan_id}/meetings/{meeting_id}/publish", publish_minutes, methods=["POST"]),
        Route("/plans/{plan_id}/meetings/{meeting_id}/minutes", published_page),
        Route("/plans/{plan_id}/meetings/{meeting_id}/published/{number:id}.json", minutes_json),
        Route("/plans/{plan_id}/meetings/{meeting_id}/published/{number:id}", published_page),
        Route(
            "/plans/{plan_id}/meetings/{meeting_id}/published/{number:id}/approve",
            approve_minutes,
            methods=["POST"],
        ),
        Route("/plans/{plan_id}/versions", history_page, methods=["GET"]),
        Route("/plans/{plan_id}/versions", create_version, methods=["POST"]),
        Route("/plans/{plan_id}/versions/{version_id:id}", version_page),
        Route(
            "/plans/{plan_id}/versions/{version_id:id}/restore", restore_version, methods=["POST"]
        ),
        Route("/plans/{plan_id}/access-log", access_log_page),
        Route("/plans/{plan_id}/close", close_submit, methods=["POST"]),
        Route("/plans/{plan_id}/reopen", reopen_submit, methods=["POST"]),
        Route("/plans/{plan_id}/delete", delete_submit, methods=["POST"]),
        *ke_admin_routes(),
        Route("/ke", ke_home, methods=["GET"]),
        Route("/ke/{municipality_id}", ke_overview, methods=["GET"]),
        Route("/ke/{municipality_id}/overview.csv", ke_overview_csv, methods=["GET"]),
        Route("/ke/{municipality_id}/access", ke_access_page, methods=["GET"]),
        Route("/ke/{municipality_id}/access.csv", ke_access_csv, methods=["GET"]),
        Route("/ke/{municipality_id}/access/settings", ke_log_settings, methods=["POST"]),
        Route("/ke/{municipality_id}/settings", ke_settings, methods=["POST"]),
        *statement_routes(),
        Route("/healthz", healthz),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        WebSocketRoute("/events", events_endpoint),
        WebSocketRoute(
            "/ws/{room:path}", _sync_endpoint
        ),  # reached past _SyncSocketsFirst only under a root_path
        Mount("/static/assets", StaticFiles(directory=CLIENT_DIR / "static", check_dir=False)),
        Mount("/static", StaticFiles(directory=CLIENT_DIR / "dist", check_dir=False)),
    ]
    app = SamplanApp(
        routes=routes,
        lifespan=lifespan,
        # Exception: the 500 page (error.html, no details), from Starlette's outermost handler
        exception_handlers={
            HTTPException: http_error,
            PageError: page_error,
            SQLAlchemyError: database_error,  # pool timeouts too
            OSError: database_error,  # TimeoutError, a refused or reset socket, StoreTimeout
            Exception: http_error,
        },
    )
    # The plan page shows these capabilities' sections without importing them.
    register_sections(
        app.state,
        {
            "meetings": meetings_section,
            "published": published_section,
            "invitations": invitations_section,
        },
    )
    # The KE starts plans with the plans capability's own form and create_plan (issue 14).
    register_plan_starter(app.state, PlanStarter(area_rows, start_from_form))
    return app
