"""The KE starts a plan and hands it to a coordinator (issue 14).

GET/POST /ke/{municipality_id}/plans/new

The same fields, checks and one-transaction creation as "Ny plan" (server/plans/start.py's
parse_start and create_plan): this capability does not import plans, so the app hands it
the plans capability's own functions (`register_plan_starter`, server/app.py). The plan goes
to the KE's municipality, optionally with a unit, and its koordinator is picked from the
KE's list of coordinators (anyone else is refused and nothing is created). The KE
administrator who starts it gets no role in it: the plan is its koordinator's, a draft until
the consent to the plan being made is recorded. The koordinator is notified, and the
`plan_create` row names the KE administrator with the role "ke_admin".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.ke.access import KE_ROLE, KeVisit
from server.ke.forms import form_number, ke_form, ke_page, ke_render
from server.web.errors import NotFound
from storage.models import utcnow
from storage.repositories.templates import TemplateRecord

PAGE = "start"
FIELDS = (
    "title",
    "person_name",
    "birth_date",
    "period_start",
    "period_end",
    "next_revision",
    "guardian_name",
    "guardian_email",
    "extra_areas",
    "koordinator",
    "unit",
    "template",
)


class StartFromForm(Protocol):
    def __call__(
        self,
        request: Request,
        form: Any,
        *,
        municipality: str,
        koordinator_user_id: int | None,
        actor_user_id: int,
        actor_role: str,
        errors: dict[str, str],
        template: TemplateRecord | None = None,
    ) -> Awaitable[tuple[str | None, dict[str, str]]]: ...


@dataclass(frozen=True, slots=True)
class PlanStarter:
    """The plans capability's "Ny plan": the life areas the form offers (as typed), and
    the check-and-create that answers (plan id, {}) or (None, {field: i18n key})."""

    area_rows: Callable[[Request, Any | None, TemplateRecord | None], list[dict[str, Any]]]
    start: StartFromForm


def register_plan_starter(state: State, starter: PlanStarter) -> None:
    state.ke_plan_starter = starter


def _starter(request: Request) -> PlanStarter:
    starter: PlanStarter = request.app.state.ke_plan_starter
    return starter


async def _template(visit: KeVisit, raw: str) -> TemplateRecord | None:
    """The municipality's template named by its id (empty: none); another municipality's
    template, or one that does not exist, is 404."""
    raw = raw.strip()
    if not raw:
        return None
    template_id = form_number(raw)
    found = None
    if template_id is not None:
        found = await visit.services.repos.templates.get(visit.municipality.id, template_id)
    if found is None:
        raise NotFound()
    return found


async def start_page(request: Request) -> Response:
    visit = await ke_page(request, PAGE)
    values = {name: "" for name in FIELDS}
    template = await _template(visit, request.query_params.get("mal", ""))
    values["template"] = str(template.id) if template is not None else ""
    rows = _starter(request).area_rows(request, None, template)
    return await _form(request, visit, values, rows, {})


async def _form(
    request: Request,
    visit: KeVisit,
    values: dict[str, str],
    suggested: list[dict[str, Any]],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    repos = visit.services.repos
    people = await repos.coordinators.of(visit.municipality.id)
    units = await repos.municipalities.units(visit.municipality.id)
    templates = await repos.templates.of(visit.municipality.id)
    context = {
        "templates": [{"id": str(t.id), "name": t.name} for t in templates],
        "template_action": f"/ke/{visit.municipality.id}/plans/new",
        "values": values,
        "suggested": suggested,
        "errors": errors,
        "choices": [{"id": str(c.user_id), "name": c.name, "unit": c.unit_name} for c in people],
        "units": [{"id": str(u.id), "name": u.name} for u in units],
    }
    return ke_render(request, visit, "ke_plan_new.html", PAGE, context, status=status)


def _id(raw: str) -> int | None:
    raw = raw.strip()
    return form_number(raw)


async def start_submit(request: Request) -> Response:
    visit, _fields = await ke_form(request)
    form = await request.form()
    values = {name: str(form.get(name) or "") for name in FIELDS}
    starter = _starter(request)
    repos = visit.services.repos
    municipality_id = visit.municipality.id
    errors: dict[str, str] = {}
    template = await _template(visit, values["template"])
    koordinator = _id(values["koordinator"])
    if koordinator is None or not await repos.coordinators.listed(municipality_id, koordinator):
        errors["koordinator"] = "ke.error.notCoordinator"
        koordinator = None
    unit_id = _id(values["unit"]) if values["unit"].strip() else None
    if values["unit"].strip() and (
        unit_id is None or await repos.municipalities.unit(municipality_id, unit_id) is None
    ):
        errors["unit"] = "ke.error.unit"
    plan_id, errors = await starter.start(
        request,
        form,
        municipality=visit.municipality.name,
        koordinator_user_id=koordinator,
        actor_user_id=visit.user.id,
        actor_role=KE_ROLE,
        errors=errors,
        template=template,
    )
    if plan_id is None:
        suggested = starter.area_rows(request, form, template)
        return await _form(request, visit, values, suggested, errors, status=400)
    assert koordinator is not None
    if unit_id is not None:
        await repos.municipalities.set_plan_unit(plan_id, unit_id)
    visit.audit(
        request,
        "ke_plan_start",
        {
            "koordinator_user_id": koordinator,
            "unit_id": unit_id,
            "template_id": template.id if template is not None else None,
        },
        plan_id=plan_id,
    )
    await visit.services.notifier.koordinator_changed(
        plan_id,
        to_user_id=koordinator,
        from_user_id=None,
        version=utcnow().isoformat(timespec="microseconds"),
    )
    address = f"/ke/{municipality_id}/plans/{plan_id}/koordinator?done=started"
    return RedirectResponse(address, status_code=303)
