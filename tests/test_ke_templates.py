"""The KE's plan templates and the public statements over a real server with plain HTTP
clients (issue 14). Two municipalities as in tests/test_ke_admin.py: Eksempelvik (A) and
Bærum (B), each with its KE administrator and one template. That file's route table covers
these routes too (404 across municipalities, 403 with an access-log row for a non-KE user, the
form token); here: the bad input the issue names, a plan started from a template (the KE's
start page and the koordinator's "Ny plan") and left alone when the template changes, and the
accessibility statement and privacy notice, escaped, at public addresses and in every footer.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pycrdt import Doc

from crdt.richtext import rich_text_plain
from crdt.schema import ABOUT_ME, AREA, CONTENT, GOALS, get_root, new_zone_doc, read_zone
from storage.repositories.templates import TemplateInput
from tests.support.live import LiveServer
from tests.support.web import csrf_of, signed_in
from tests.support.world import World
from tests.test_ke_admin import KARI, PEOPLE, Two, _audit, _rows, _state, start_form, two

pytestmark = pytest.mark.both_databases

__all__ = ["two"]  # the fixture, used by name

ANNE = PEOPLE["anne"][0]
SIRI = PEOPLE["siri"][0]


async def _post(http: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
    body = {**data, "csrf_token": csrf_of((await http.get("/plans")).text)}
    return await http.post(path, data=body)


def _template_form(name: str, areas: list[tuple[str, str, str]], **extra: str) -> dict[str, Any]:
    form: dict[str, Any] = {"name": name, "rows": str(len(areas)), **extra}
    for i, (area, hint, subs) in enumerate(areas):
        form |= {
            f"area_name_{i}": area,
            f"area_hint_{i}": hint,
            f"area_subs_{i}": subs,
            f"area_pos_{i}": str(i + 1),
        }
    return form


def _zone_doc(server: LiveServer, zone_id: int, kind: str) -> dict[str, Any]:
    doc: Doc[Any] = new_zone_doc(kind)
    for (data,) in _rows(
        server, "SELECT data FROM zone_updates WHERE zone_id = ? ORDER BY id", zone_id
    ):
        doc.apply_update(bytes(data))
    return {"data": read_zone(doc, kind), "doc": doc}


def _plan_rows(server: LiveServer, plan_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a plan holds in SQL and in its zones' logs: compared before and after a template
    changes."""
    return {
        "zones": _rows(
            server,
            "SELECT id, kind, key, title, position, hint FROM zones WHERE plan_id = ? ORDER BY id",
            plan_id,
        ),
        "updates": _rows(
            server,
            "SELECT u.id, u.zone_id, u.data, u.user_id FROM zone_updates u"
            " JOIN zones z ON z.id = u.zone_id WHERE z.plan_id = ? ORDER BY u.id",
            plan_id,
        ),
        "summaries": _rows(
            server,
            "SELECT s.zone_id, s.data FROM zone_summaries s"
            " JOIN zones z ON z.id = s.zone_id WHERE z.plan_id = ? ORDER BY 1",
            plan_id,
        ),
    }


# -- bad input ------------------------------------------------------------------------------


async def test_an_empty_or_duplicate_area_name_is_refused_and_nothing_saved(
    web: LiveServer, world: World, two: Two
) -> None:
    base = f"/ke/{two.a}/templates"
    before = _state(web)
    async with signed_in(web.http, ANNE) as anne:
        empty = await _post(
            anne,
            base,
            _template_form(
                "Mal for ungdom 🛹",
                [("Skole og læring 🎒", "", ""), ("", "Hva trenger du hjelp til? 🤔", "Mål")],
            ),
        )
        assert empty.status_code == 400
        assert 'role="alert"' in empty.text and "Et livsområde mangler navn" in empty.text
        assert 'data-error="ke.error.areaName"' in empty.text
        # Shown again as typed, the bad row marked.
        assert "Hva trenger du hjelp til? 🤔" in empty.text and 'aria-invalid="true"' in empty.text

        twice = await _post(
            anne,
            base,
            _template_form(
                "Mal for ungdom 🛹",
                [("Fritid og venner ⚽", "", ""), ("  fritid OG   venner ⚽ ", "", "")],
            ),
        )
        assert twice.status_code == 409 and "To livsområder har samme navn" in twice.text

        nameless = await _post(anne, base, _template_form("  ", [("Helse 🩺", "", "")]))
        assert nameless.status_code == 400 and "Malen må ha et navn" in nameless.text
        no_areas = await _post(anne, base, _template_form("Tom mal 🫙", []))
        assert no_areas.status_code == 400 and "minst ett livsområde" in no_areas.text

        # The same on an existing template: it keeps what it had.
        own = f"{base}/{two.template_a}"
        bad = await _post(
            anne,
            own,
            _template_form("Mal for barn 🧒", [("Bolig 🏠", "", ""), ("BOLIG 🏠", "", "")]),
        )
        assert bad.status_code == 409
        bad = await _post(
            anne, own, _template_form("Mal for barn 🧒", [("", "", "Underoverskrift")])
        )
        assert bad.status_code == 400
    assert _state(web) == before
    assert await _audit(web, "ke_template_add") == []
    assert await _audit(web, "ke_template_save") == []


# -- the KE keeps its templates ---------------------------------------------------------------


async def test_the_ke_adds_edits_reorders_and_removes_templates(
    web: LiveServer, world: World, two: Two
) -> None:
    base = f"/ke/{two.a}/templates"
    repo = web.services.repos.templates
    async with signed_in(web.http, ANNE) as anne:
        page = await anne.get(f"{base}/new")
        assert page.status_code == 200 and 'data-testid="ke-template-form"' in page.text
        made = await _post(
            anne,
            base,
            _template_form(
                "Mal for voksne 🧑‍🦳 Ærlig",
                [
                    ("Arbeid og aktivitet 🛠️", "Hva gjør du på dagtid?", "Arbeid\nDagtilbud"),
                    ("Bolig 🏠", "", ""),
                    ("", "", ""),  # a blank row is no area
                ],
                about_me="Skriv med dine egne ord. 🌱\n\nHva er viktig for deg?",
            ),
        )
        assert made.status_code == 303 and made.headers["location"].endswith("done=added")
        templates = await repo.of(two.a)
        assert [t.name for t in templates] == ["Mal for barn 🧒", "Mal for voksne 🧑‍🦳 Ærlig"]
        new = templates[1]
        assert [(a.name, a.hint, a.subheadings) for a in new.areas] == [
            ("Arbeid og aktivitet 🛠️", "Hva gjør du på dagtid?", ("Arbeid", "Dagtilbud")),
            ("Bolig 🏠", "", ()),
        ]
        assert new.about_me == "Skriv med dine egne ord. 🌱\n\nHva er viktig for deg?"
        listing = await anne.get(base)
        assert listing.text.index("Mal for barn 🧒") < listing.text.index("Mal for voksne")

        # Reorder: up for the second; the first cannot go further up.
        moved = await _post(anne, f"{base}/{new.id}/move", {"direction": "up"})
        assert moved.status_code == 303
        assert [t.id for t in await repo.of(two.a)] == [new.id, two.template_a]
        stuck = await _post(anne, f"{base}/{new.id}/move", {"direction": "up"})
        assert stuck.status_code == 400

        # Edit: the areas' order by their positions, one removed, one added.
        form = _template_form(
            "Mal for voksne 🧑‍🦳",
            [
                ("Arbeid og aktivitet 🛠️", "Hva gjør du på dagtid?", "Arbeid"),
                ("Bolig 🏠", "", ""),
                ("Økonomi 💰", "Penger og NAV", "Inntekt\nGjeld"),
            ],
        )
        form |= {"area_pos_0": "3", "area_remove_1": "1", "area_pos_2": "1"}
        saved = await _post(anne, f"{base}/{new.id}", form)
        assert saved.status_code == 303
        edited = await repo.get(two.a, new.id)
        assert edited is not None and edited.name == "Mal for voksne 🧑‍🦳"
        assert [a.name for a in edited.areas] == ["Økonomi 💰", "Arbeid og aktivitet 🛠️"]
        assert edited.areas[0].subheadings == ("Inntekt", "Gjeld")
        page = await anne.get(f"{base}/{new.id}")
        assert page.status_code == 200 and "Penger og NAV" in page.text

        gone = await _post(anne, f"{base}/{new.id}/delete", {})
        assert gone.status_code == 303
        assert [t.id for t in await repo.of(two.a)] == [two.template_a]
        assert (await anne.get(f"{base}/{new.id}")).status_code == 404
    actions = ("ke_template_add", "ke_template_move", "ke_template_save", "ke_template_delete")
    for action in actions:
        rows = await _audit(web, action)
        assert len(rows) == 1, action
        actor, role, plan, details = rows[0]
        assert (actor, role, plan) == (two.anne, "ke_admin", None)
        assert json.loads(details)["template_id"] == new.id
        assert "Voksne" not in details and "Økonomi" not in details  # ids, never the text


# -- a plan from a template -----------------------------------------------------------------


async def _two_area_template(web: LiveServer, municipality: int) -> int:
    return await web.services.repos.templates.save(
        municipality,
        None,
        TemplateInput(
            "Mal for skolebarn 🎒",
            "Fortell om deg selv, Åse-stil. 🌻",
            "",
            "Hva trenger du hjelp til?",
            [
                ("Skole og læring 📚", "Hvordan har du det på skolen?", ("Trivsel", "Læring")),
                ("Fritid og venner ⚽", "", ()),
            ],
        ),
    )


def _from_template(form: dict[str, Any], template: Any) -> dict[str, Any]:
    """The start form as the page offers it for the template: every area ticked."""
    form = {
        **form,
        "template": str(template.id),
        "area": [str(i) for i in range(len(template.areas))],
    }
    for i, area in enumerate(template.areas):
        form[f"area_title_{i}"] = area.name
        form[f"area_src_{i}"] = str(area.id)
    return form


async def test_a_plan_started_from_a_template_keeps_it_when_the_template_changes(
    web: LiveServer, world: World, two: Two
) -> None:
    repos = web.services.repos
    template_id = await _two_area_template(web, two.a)
    template = await repos.templates.get(two.a, template_id)
    assert template is not None
    async with signed_in(web.http, ANNE) as anne:
        page = await anne.get(f"/ke/{two.a}/plans/new?mal={template_id}")
        assert page.status_code == 200
        assert (
            'value="Skole og læring 📚"' in page.text
            and "Hvordan har du det på skolen?" in page.text
        )
        assert f'name="template" value="{template_id}"' in page.text
        form = start_form(koordinator=str(two.siri))
        del form["area_title_2"]
        started = await _post(anne, f"/ke/{two.a}/plans/new", _from_template(form, template))
        assert started.status_code == 303, started.text
        plan_id = started.headers["location"].split("/plans/")[1].split("/")[0]

    zones = _rows(
        web,
        "SELECT id, key, title, hint FROM zones WHERE plan_id = ? AND kind = 'area'"
        " ORDER BY position",
        plan_id,
    )
    assert [(title, hint) for _id, _key, title, hint in zones] == [
        ("Skole og læring 📚", "Hvordan har du det på skolen?"),
        ("Fritid og venner ⚽", None),
    ]
    school = _zone_doc(web, zones[0][0], AREA)["data"]
    assert [(g["label"], g["title"], g["parentId"]) for g in school[GOALS]] == [
        ("M1", "Trivsel", None),
        ("M2", "Læring", None),
    ]
    assert _zone_doc(web, zones[1][0], AREA)["data"][GOALS] == []
    content_id = _rows(web, "SELECT id FROM zones WHERE plan_id = ? AND kind = 'content'", plan_id)[
        0
    ][0]
    content = _zone_doc(web, content_id, CONTENT)["doc"]
    assert (
        rich_text_plain(get_root(content, CONTENT, ABOUT_ME)) == "Fortell om deg selv, Åse-stil. 🌻"
    )
    # The template's text has no author in the plan: the server wrote it, not the koordinator.
    authors = _rows(
        web,
        "SELECT u.user_id FROM zone_updates u JOIN zones z ON z.id = u.zone_id"
        " WHERE z.plan_id = ? AND z.kind = 'area'",
        plan_id,
    )
    assert authors == [(None,)]
    start_rows = await _audit(web, "ke_plan_start")
    assert json.loads(start_rows[-1][3])["template_id"] == template_id

    # The koordinator's plan page hands the hint to the area's editor.
    async with signed_in(web.http, SIRI) as siri:
        plan_page = await siri.get(f"/plans/{plan_id}")
        assert plan_page.status_code == 200 and "Hvordan har du det på skolen?" in plan_page.text

    before = _plan_rows(web, plan_id)
    async with signed_in(web.http, ANNE) as anne:
        changed = _template_form(
            "Mal for skolebarn 🎒 (ny)",
            [
                ("Skole 🏫", "Ny veiledning ✏️", "Bare én"),
                ("Helse 🩺", "", "Lege"),
            ],
            about_me="En helt annen tekst 🔁",
        )
        saved = await _post(anne, f"/ke/{two.a}/templates/{template_id}", changed)
        assert saved.status_code == 303
        removed = await _post(anne, f"/ke/{two.a}/templates/{template_id}/delete", {})
        assert removed.status_code == 303
    assert _plan_rows(web, plan_id) == before


async def test_ny_plan_offers_the_coordinators_municipality_templates_only(
    web: LiveServer, world: World, two: Two
) -> None:
    repos = web.services.repos
    template_id = await _two_area_template(web, two.a)
    template = await repos.templates.get(two.a, template_id)
    assert template is not None
    plans_before = _rows(web, "SELECT id FROM plans ORDER BY id")
    async with signed_in(web.http, SIRI) as siri:
        page = await siri.get("/plans/new")
        assert page.status_code == 200 and 'data-testid="template-choice"' in page.text
        assert "Mal for skolebarn 🎒" in page.text and "Mal for barn 🧒" in page.text
        assert f'<option value="{two.template_b}">' not in page.text
        assert f'<option value="{two.template_a}">' in page.text
        # Without a template chosen: the suggested areas, as before.
        assert 'name="template" value=""' in page.text
        chosen = await siri.get(f"/plans/new?mal={template_id}")
        assert 'value="Fritid og venner ⚽"' in chosen.text
        assert (await siri.get(f"/plans/new?mal={two.template_b}")).status_code == 404
        assert (await siri.get("/plans/new?mal=abc")).status_code == 404

        form = start_form()
        del form["area_title_2"]
        crafted = {**_from_template(form, template), "template": str(two.template_b)}
        refused = await _post(siri, "/plans/new", crafted)
        assert refused.status_code == 400 and "Malen finnes ikke lenger" in refused.text
        assert _rows(web, "SELECT id FROM plans ORDER BY id") == plans_before

        started = await _post(siri, "/plans/new", _from_template(form, template))
        assert started.status_code == 303
    new = [row for row in _rows(web, "SELECT id FROM plans ORDER BY id") if row not in plans_before]
    assert len(new) == 1
    areas = _rows(
        web,
        "SELECT title, hint FROM zones WHERE plan_id = ? AND kind = 'area' ORDER BY position",
        new[0][0],
    )
    assert areas == [
        ("Skole og læring 📚", "Hvordan har du det på skolen?"),
        ("Fritid og venner ⚽", None),
    ]
    assert _rows(web, "SELECT municipality_id FROM plans WHERE id = ?", new[0][0]) == [(two.a,)]


# -- the public statements ------------------------------------------------------------------


async def test_the_statements_are_public_escaped_and_linked_from_every_footer(
    web: LiveServer, world: World, two: Two
) -> None:
    async with httpx.AsyncClient(base_url=web.http) as nobody:
        for path, title in (
            ("/om/tilgjengelighet", "Tilgjengelighetserklæring"),
            ("/om/personvern", "Personvernerklæring"),
        ):
            default = await nobody.get(path)
            assert default.status_code == 200 and title in default.text
            assert 'data-testid="statement-default"' in default.text
        login = await nobody.get("/login")
        assert 'href="/om/tilgjengelighet"' in login.text and 'href="/om/personvern"' in login.text
        assert (await nobody.get("/om/personvern?kommune=abc")).status_code == 404
        assert (await nobody.get("/om/personvern?kommune=999999")).status_code == 404

    text = "Vi følger WCAG 2.1 🌍\nLinje to\n\n<script>alert('æøå')</script> Åse Ødegård"
    async with signed_in(web.http, ANNE) as anne:
        page = await anne.get(f"/ke/{two.a}/statements")
        assert (
            page.status_code == 200 and f'href="/om/tilgjengelighet?kommune={two.a}"' in page.text
        )
        saved = await _post(
            anne, f"/ke/{two.a}/statements", {"tilgjengelighet": text, "personvern": ""}
        )
        assert saved.status_code == 303
    rows = await _audit(web, "ke_statements_save")
    assert [json.loads(d) for *_, d in rows] == [
        {"municipality_id": two.a, "written": ["tilgjengelighet"]}
    ]

    async with httpx.AsyncClient(base_url=web.http) as nobody:
        shown = await nobody.get(f"/om/tilgjengelighet?kommune={two.a}")
        assert "<p>Vi følger WCAG 2.1 🌍<br>Linje to</p>" in shown.text
        assert "<script>alert" not in shown.text
        assert "&lt;script&gt;alert(&#39;æøå&#39;)&lt;/script&gt; Åse Ødegård" in shown.text
        # B wrote nothing: B's page has the default text; A's privacy notice too.
        other = await nobody.get(f"/om/tilgjengelighet?kommune={two.b}")
        assert (
            "Vi følger WCAG" not in other.text and 'data-testid="statement-default"' in other.text
        )
        privacy = await nobody.get(f"/om/personvern?kommune={two.a}")
        assert 'data-testid="statement-default"' in privacy.text

    # Signed in, without ?kommune: the municipality of the user's plans.
    async with signed_in(web.http, KARI) as kari:
        mine = await kari.get("/om/tilgjengelighet")
        assert "Vi følger WCAG 2.1 🌍" in mine.text
        plan_page = await kari.get(f"/plans/{world.plan_id}")
        assert 'data-testid="footer-personvern"' in plan_page.text
        printed = await kari.get(f"/plans/{world.plan_id}/print")
        assert printed.status_code == 200
        assert f'href="/om/personvern?kommune={two.a}"' in printed.text
