"""Printing and downloading a plan: GET /plans/{id}/print, /export.json and /export.pdf.

Only the planeier, verge and koordinator may (DESIGN §3, column export/print); a deltaker or
leser gets 403 with a page that says so. A non-member or unknown plan gets the same 404 as the
plan page, and so does a deltaker or leser without consent (they cannot see the plan at all),
so the answer never tells whether a plan exists. Every print and download is an audit row.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server.core.access import can_export
from server.core.audit import client_address
from server.core.clock import today_oslo
from server.services import Services
from server.transfer.export import build_export, dumps
from server.transfer.print_view import print_context
from server.web.errors import Forbidden, NotFound, PageError
from server.web.i18n import language_of, translator
from server.web.templating import render, render_to_string
from server.web.visit import visit

log = logging.getLogger("samplan.export")


async def export_json(request: Request) -> Response:
    user, role, document = await _allowed(request)
    _audit(request, "export", user, role, document, {"format": "json"})
    return Response(
        dumps(document),
        media_type="application/json",
        headers=_download_headers(document, "json"),
    )


async def print_page(request: Request) -> Response:
    user, role, document = await _allowed(request)
    context = _context(request, document, for_pdf=False)
    services: Services = request.app.state.services
    # The footer links the statements of the plan's municipality (issue 14).
    context["footer_kommune"] = await services.repos.municipalities.of_plan(document["plan"]["id"])
    _audit(request, "print", user, role, document, {"format": "html"})
    return render(request, "print.html", context, user=user)


async def export_pdf(request: Request) -> Response:
    user, role, document = await _allowed(request)
    html = render_to_string(request, "print.html", _context(request, document, for_pdf=True))
    services: Services = request.app.state.services
    try:
        pdf = await services.pdf.render(html)  # CPU work, in a worker process
    except Exception as exc:  # logged without content; the user gets the generic error page
        log.error(
            "pdf failed plan_id=%s: %s", document["plan"]["id"], type(exc).__name__, exc_info=exc
        )
        raise PageError(500, "error.generic") from exc
    _audit(request, "export", user, role, document, {"format": "pdf"})
    return Response(pdf, media_type="application/pdf", headers=_download_headers(document, "pdf"))


async def _allowed(request: Request) -> tuple[Any, str, dict[str, Any]]:
    """(user, role, export document); raises a PageError for whoever may not."""
    v = await visit(request)
    if not can_export(v.role):
        raise Forbidden("print.forbidden")
    document = await build_export(
        v.services.repos, v.plan.id, v.services.registry.read, secret_key=v.services.secret_key
    )
    if document is None:  # deleted a moment ago
        raise NotFound()
    return v.user, v.role, document


def _context(request: Request, document: dict[str, Any], *, for_pdf: bool) -> dict[str, Any]:
    t = translator(language_of(request))
    return {**print_context(document, t, today_oslo()), "for_pdf": for_pdf}


def _audit(
    request: Request,
    action: str,
    user: Any,
    role: str,
    document: dict[str, Any],
    details: dict[str, str],
) -> None:
    services: Services = request.app.state.services
    services.audit.record(
        action,
        actor_user_id=user.id,
        role=role,
        plan_id=document["plan"]["id"],
        client_address=client_address(request),
        details=details,
    )


def _download_headers(document: dict[str, Any], extension: str) -> dict[str, str]:
    # The plan id, not the person's name: file names end up in download folders and logs.
    name = f"samplan-{document['plan']['id']}-{document['exported_at'][:10]}.{extension}"
    return {
        "content-disposition": f'attachment; filename="{name}"',
        "cache-control": "no-store",  # health data
    }
