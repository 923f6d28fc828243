"""The municipality's plan templates, kept by its KE (issue 14).

GET  /ke/{municipality_id}/templates                           the list: edit, move, remove
GET  /ke/{municipality_id}/templates/new                       an empty template form
POST /ke/{municipality_id}/templates                           create one
GET  /ke/{municipality_id}/templates/{template_id:id}          the template form
POST /ke/{municipality_id}/templates/{template_id:id}          save it (areas replaced)
POST /ke/{municipality_id}/templates/{template_id:id}/delete   remove it
POST /ke/{municipality_id}/templates/{template_id:id}/move     direction: up | down

A template is a named set of life areas, each with a name, the hint shown under the area and
its default sub-headings (one per line; a new plan gets each as a top-level goal of the area),
plus default text for the content zone's sections "Om meg", "Ressurser" and "Behov". "Ny plan"
copies it into the new plan; a change here never touches a plan already started.

An area name is never empty and never another area's of the same template (case and spaces do
not make two areas); a refused form saves nothing and is shown again as typed. Another
municipality's template is 404, like one that does not exist. Each view and change is an
access-log row (ids and counts, never the text).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.ke.access import KeVisit
from server.ke.forms import back, form_number, ke_form, ke_page, ke_render, row_id
from server.web.errors import NotFound
from storage import errors as storage_errors
from storage.repositories.templates import (
    AREA_NAME_MAX,
    TEMPLATE_NAME_MAX,
    TEXT_MAX,
    TemplateInput,
    TemplateRecord,
)

PAGE = "templates"
BLANK_ROWS = 3  # empty area rows the form offers for adding areas
MAX_ROWS = 60  # area rows a form may post (crafted forms are read no further)
MAX_AREAS = 30  # as "Ny plan" (server.plans.start.MAX_AREAS)
MAX_SUBHEADINGS = 20
SECTIONS = ("about_me", "resources", "needs")


@dataclass
class _Row:
    i: int
    name: str = ""
    hint: str = ""
    subheadings: str = ""
    position: str = ""
    remove: bool = False
    error: str = ""

    @property
    def blank(self) -> bool:
        return not (self.name.strip() or self.hint.strip() or self.subheadings.strip())


@dataclass
class _Form:
    name: str = ""
    sections: dict[str, str] = field(default_factory=lambda: dict.fromkeys(SECTIONS, ""))
    rows: list[_Row] = field(default_factory=list)
    error: str = ""
    name_error: bool = False


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _lines(text: str) -> list[str]:
    return [_one_line(line) for line in text.splitlines() if line.strip()]


def _text(text: str) -> str:
    """Plain text as typed, line ends made "\\n" and outer blank space trimmed."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _from_record(template: TemplateRecord | None) -> _Form:
    form = _Form()
    if template is not None:
        form.name = template.name
        form.sections = {
            "about_me": template.about_me,
            "resources": template.resources,
            "needs": template.needs,
        }
        form.rows = [
            _Row(i, a.name, a.hint, "\n".join(a.subheadings), str(i + 1))
            for i, a in enumerate(template.areas)
        ]
    start = len(form.rows)
    form.rows += [_Row(start + n, position=str(start + n + 1)) for n in range(BLANK_ROWS)]
    return form


def _posted(fields: dict[str, str]) -> _Form:
    form = _Form(name=fields.get("name", ""))
    form.sections = {name: fields.get(name, "") for name in SECTIONS}
    count = min(form_number(fields.get("rows", ""), 3) or 0, MAX_ROWS)
    for i in range(count):
        form.rows.append(
            _Row(
                i,
                fields.get(f"area_name_{i}", ""),
                fields.get(f"area_hint_{i}", ""),
                fields.get(f"area_subs_{i}", ""),
                fields.get(f"area_pos_{i}", ""),
                bool(fields.get(f"area_remove_{i}")),
            )
        )
    return form


def _checked(form: _Form) -> TemplateInput | None:
    """The template to save, or None with `form.error` (and the rows' errors) set."""
    name = _one_line(form.name)
    if not name or len(name) > TEMPLATE_NAME_MAX:
        form.error, form.name_error = "ke.error.templateName", True
        return None
    kept = [row for row in form.rows if not row.remove and not row.blank]

    def place(row: _Row) -> tuple[int, int]:
        number = form_number(row.position, 3)
        return (number if number is not None else row.i + 1, row.i)

    kept.sort(key=place)
    areas: list[tuple[str, str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for row in kept:
        area_name = _one_line(row.name)
        subheadings = tuple(_lines(row.subheadings))
        hint = _text(row.hint)
        if not area_name:
            row.error = form.error = "ke.error.areaName"
        elif len(area_name) > AREA_NAME_MAX or len(hint) > TEXT_MAX:
            row.error = form.error = "ke.error.tooLong"
        elif area_name.casefold() in seen:
            row.error = form.error = "ke.error.areaTwice"
        elif len(subheadings) > MAX_SUBHEADINGS or any(len(s) > AREA_NAME_MAX for s in subheadings):
            row.error = form.error = "ke.error.subheadings"
        if row.error:
            return None
        seen.add(area_name.casefold())
        areas.append((area_name, hint, subheadings))
    if not areas:
        form.error = "ke.error.noAreas"
        return None
    if len(areas) > MAX_AREAS:
        form.error = "ke.error.tooManyAreas"
        return None
    sections = {key: _text(value) for key, value in form.sections.items()}
    if any(len(value) > TEXT_MAX for value in sections.values()):
        form.error = "ke.error.tooLong"
        return None
    return TemplateInput(
        name, sections["about_me"], sections["resources"], sections["needs"], areas
    )


# -- the list --------------------------------------------------------------------------------


async def templates_page(request: Request) -> Response:
    visit = await ke_page(request, PAGE)
    return await _list(request, visit)


async def _list(
    request: Request, visit: KeVisit, *, error: str = "", status: int = 200
) -> Response:
    templates = await visit.services.repos.templates.of(visit.municipality.id)
    context = {
        "templates": [
            {"id": t.id, "name": t.name, "areas": [a.name for a in t.areas]} for t in templates
        ],
        "error": error,
    }
    return ke_render(request, visit, "ke_templates.html", PAGE, context, status=status)


# -- one template ------------------------------------------------------------------------------


def _editor(
    request: Request,
    visit: KeVisit,
    template_id: int | None,
    form: _Form,
    status: int = 200,
) -> Response:
    base = f"/ke/{visit.municipality.id}/templates"
    context = {
        "template_id": template_id,
        "action": f"{base}/{template_id}" if template_id is not None else base,
        "form": form,
        "sections": SECTIONS,
        "error": form.error,
    }
    return ke_render(request, visit, "ke_template_edit.html", PAGE, context, status=status)


async def _own(visit: KeVisit, template_id: int) -> TemplateRecord:
    found = await visit.services.repos.templates.get(visit.municipality.id, template_id)
    if found is None:
        raise NotFound()
    return found


async def template_new(request: Request) -> Response:
    visit = await ke_page(request, "template_new")
    return _editor(request, visit, None, _from_record(None))


async def template_page(request: Request) -> Response:
    visit = await ke_page(request, "template")
    template = await _own(visit, row_id(request, "template_id"))
    return _editor(request, visit, template.id, _from_record(template))


def _refused(request: Request, visit: KeVisit, template_id: int | None, form: _Form) -> Response:
    status = 409 if form.error == "ke.error.areaTwice" else 400
    # Show the rows as typed, with room to add more (blank rows topped up, not piled up).
    form.rows = [row for row in form.rows if not row.blank or row.error]
    start = len(form.rows)
    form.rows = [
        _Row(n, r.name, r.hint, r.subheadings, r.position, r.remove, r.error)
        for n, r in enumerate(form.rows)
    ]
    form.rows += [_Row(start + n, position=str(start + n + 1)) for n in range(BLANK_ROWS)]
    return _editor(request, visit, template_id, form, status)


async def template_add(request: Request) -> Response:
    visit, fields = await ke_form(request)
    form = _posted(fields)
    checked = _checked(form)
    if checked is None:
        return _refused(request, visit, None, form)
    template_id = await visit.services.repos.templates.save(visit.municipality.id, None, checked)
    visit.audit(
        request, "ke_template_add", {"template_id": template_id, "areas": len(checked.areas)}
    )
    return back(visit, PAGE, "added")


async def template_save(request: Request) -> Response:
    visit, fields = await ke_form(request)
    template_id = row_id(request, "template_id")
    await _own(visit, template_id)
    form = _posted(fields)
    checked = _checked(form)
    if checked is None:
        return _refused(request, visit, template_id, form)
    try:
        await visit.services.repos.templates.save(visit.municipality.id, template_id, checked)
    except storage_errors.NotFound:
        raise NotFound() from None
    visit.audit(
        request, "ke_template_save", {"template_id": template_id, "areas": len(checked.areas)}
    )
    return back(visit, PAGE, "saved")


async def template_delete(request: Request) -> Response:
    visit, _fields = await ke_form(request)
    template_id = row_id(request, "template_id")
    if not await visit.services.repos.templates.delete(visit.municipality.id, template_id):
        raise NotFound()
    visit.audit(request, "ke_template_delete", {"template_id": template_id})
    return back(visit, PAGE, "deleted")


async def template_move(request: Request) -> Response:
    visit, fields = await ke_form(request)
    template_id = row_id(request, "template_id")
    direction = fields.get("direction", "")
    if direction not in ("up", "down"):
        return await _list(request, visit, error="ke.error.move", status=400)
    try:
        moved = await visit.services.repos.templates.move(
            visit.municipality.id, template_id, -1 if direction == "up" else 1
        )
    except storage_errors.NotFound:
        raise NotFound() from None
    if not moved:
        return await _list(request, visit, error="ke.error.move", status=400)
    visit.audit(request, "ke_template_move", {"template_id": template_id, "direction": direction})
    return RedirectResponse(
        f"/ke/{visit.municipality.id}/templates?done=moved#template-{template_id}", status_code=303
    )
