"""The pages a public service must have (issue 14): the municipality's accessibility
statement (tilgjengelighetserklæring) and privacy notice (personvernerklæring).

GET  /ke/{municipality_id}/statements    the KE edits both (plain text; blank line: paragraph)
POST /ke/{municipality_id}/statements    save them (empty: the default text again)
GET  /om/tilgjengelighet, /om/personvern  anyone, signed in or not

The public pages choose the municipality by `?kommune=<id>`, else by the signed-in user's
plans (then a KE they administer, then a list of coordinators that holds them), else they
show the default text. The KE's text is shown escaped, paragraph by paragraph: never HTML.
Every page's footer links here (client/templates/_footer.html).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.ke.forms import back, form_number, ke_form, ke_page, ke_render
from server.services import Services
from server.web.errors import NotFound
from server.web.session import current_user
from server.web.templating import render
from storage.repositories.statements import STATEMENT_KINDS, STATEMENT_MAX

PAGE = "statements"


def paragraphs(text: str) -> list[list[str]]:
    """Plain text as paragraphs (split on blank lines), each a list of its lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    found = []
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if lines:
            found.append(lines)
    return found


# -- the KE's page -------------------------------------------------------------------------


async def statements_page(request: Request) -> Response:
    visit = await ke_page(request, PAGE)
    repo = visit.services.repos.statements
    values = {}
    for kind in STATEMENT_KINDS:
        row = await repo.get(visit.municipality.id, kind)
        values[kind] = row.body if row is not None else ""
    return _page(request, visit, values)


def _page(
    request: Request, visit: Any, values: dict[str, str], *, error: str = "", status: int = 200
) -> Response:
    context = {"values": values, "kinds": STATEMENT_KINDS, "error": error, "max": STATEMENT_MAX}
    return ke_render(request, visit, "ke_statements.html", PAGE, context, status=status)


async def statements_submit(request: Request) -> Response:
    visit, fields = await ke_form(request)
    values = {kind: fields.get(kind, "").replace("\r\n", "\n").strip() for kind in STATEMENT_KINDS}
    if any(len(value) > STATEMENT_MAX for value in values.values()):
        return _page(request, visit, values, error="ke.error.tooLong", status=400)
    repo = visit.services.repos.statements
    for kind, body in values.items():
        await repo.set(visit.municipality.id, kind, body, user_id=visit.user.id)
    written = [kind for kind, body in values.items() if body]
    visit.audit(request, "ke_statements_save", {"written": written})
    return back(visit, PAGE, "saved")


# -- the public pages ----------------------------------------------------------------------


async def _municipality_of(request: Request, services: Services, user: Any) -> int | None:
    raw = request.query_params.get("kommune")
    if raw is not None:
        chosen = form_number(raw)
        if chosen is None or await services.repos.municipalities.get(chosen) is None:
            raise NotFound()
        return chosen
    if user is None:
        return None
    found = await services.repos.statements.municipality_of_member(user.id)
    if found is not None:
        return found
    administered = await services.repos.municipalities.administered_by(user.id)
    if administered:
        return administered[0].id
    places = await services.repos.coordinators.municipalities_of(user.id)
    return places[0].id if places else None


async def accessibility_statement(request: Request) -> Response:
    return await _public(request, "tilgjengelighet")


async def privacy_notice(request: Request) -> Response:
    return await _public(request, "personvern")


async def _public(request: Request, kind: str) -> Response:
    services: Services = request.app.state.services
    user = await current_user(request)
    municipality_id = await _municipality_of(request, services, user)
    municipality = None
    body: list[list[str]] = []
    if municipality_id is not None:
        municipality = await services.repos.municipalities.get(municipality_id)
        row = await services.repos.statements.get(municipality_id, kind)
        if row is not None:
            body = paragraphs(row.body)
    context = {
        "kind": kind,
        "municipality": {"id": municipality.id, "name": municipality.name}
        if municipality is not None
        else None,
        "body": body,
    }
    return render(request, "statement.html", context, user=user)


def public_routes() -> list[Route]:
    return [
        Route("/om/tilgjengelighet", accessibility_statement, methods=["GET"]),
        Route("/om/personvern", privacy_notice, methods=["GET"]),
    ]
