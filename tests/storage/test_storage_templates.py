"""The KE's plan templates and public statements in SQL (issue 14), on both databases: a
template belongs to one municipality, its areas are replaced in one transaction, a duplicate
or empty area name is refused before anything is written, templates reorder, and a plan
started with hints and first area updates keeps them whatever the template becomes."""

from __future__ import annotations

import pytest

from storage.errors import InvalidValue, NotFound
from storage.repositories.municipalities import MunicipalityRepo
from storage.repositories.plan_start import NewPlan, PlanStartRepo
from storage.repositories.statements import StatementRepo
from storage.repositories.templates import PlanTemplateRepo, TemplateInput
from tests.storage.conftest import Store


def _template(name: str, *areas: tuple[str, str, tuple[str, ...]]) -> TemplateInput:
    return TemplateInput(name, "Om meg, Åse 🌻", "", "Behov ✨", list(areas))


async def test_templates_stay_in_their_municipality_and_refuse_bad_areas(store: Store) -> None:
    places = MunicipalityRepo(store.sessionmaker)
    tromsø = (await places.ensure("Tromsø kommune")).id
    bærum = (await places.ensure("Bærum kommune 🌲")).id
    repo = PlanTemplateRepo(store.sessionmaker)
    first = await repo.save(
        tromsø, None, _template("Barn 🧒", ("Skole 🎒", "Hvordan går det?", ("Trivsel", "Læring")))
    )
    second = await repo.save(tromsø, None, _template("Voksne", ("Arbeid 🛠️", "", ())))
    other = await repo.save(bærum, None, _template("Bærum-mal", ("Bolig 🏠", "", ())))
    assert [t.id for t in await repo.of(tromsø)] == [first, second]
    got = await repo.get(tromsø, first)
    assert got is not None and got.areas[0].subheadings == ("Trivsel", "Læring")
    assert got.about_me == "Om meg, Åse 🌻"
    assert await repo.get(tromsø, other) is None  # Bærum's
    with pytest.raises(NotFound):
        await repo.save(tromsø, other, _template("Stjålet 🕵️", ("X", "", ())))
    assert not await repo.delete(tromsø, other)
    with pytest.raises(NotFound):
        await repo.move(tromsø, other, -1)

    for bad in (
        _template("Tom", ("", "hint", ())),
        _template("To", ("Fritid ⚽", "", ()), ("FRITID ⚽", "", ())),
        _template("", ("Helse", "", ())),
    ):
        with pytest.raises(InvalidValue):
            await repo.save(tromsø, first, bad)
    after = await repo.get(tromsø, first)
    assert after == got  # nothing written

    assert await repo.move(tromsø, second, -1)
    assert not await repo.move(tromsø, second, -1)
    assert [t.id for t in await repo.of(tromsø)] == [second, first]
    await repo.save(tromsø, first, _template("Barn 🧒", ("Helse 🩺", "", ())))
    edited = await repo.get(tromsø, first)
    assert edited is not None and [a.name for a in edited.areas] == ["Helse 🩺"]
    assert await repo.delete(tromsø, first)
    assert [t.id for t in await repo.of(tromsø)] == [second]
    assert [t.id for t in await repo.of(bærum)] == [other]


async def test_a_plan_keeps_its_area_hints_and_statements_are_per_municipality(
    store: Store,
) -> None:
    places = MunicipalityRepo(store.sessionmaker)
    tromsø = (await places.ensure("Tromsø kommune")).id
    bærum = (await places.ensure("Bærum kommune 🌲")).id
    kari = await store.users.create("kari@example.no", "Kari Ødegård")
    plan = await PlanStartRepo(store.sessionmaker).create(
        NewPlan(
            municipality_id=tromsø,
            title="Plan for Åse 🌻",
            person_name="Åse Ødegård",
            person_birth_date=None,
            areas=[("skole", "Skole 🎒"), ("fritid", "Fritid ⚽")],
            koordinator_user_id=kari.id,
            draft=True,
            area_hints={"skole": "Hvordan går det på skolen?"},
            area_updates={"skole": (b"\x00\x00", {"goals": 2})},
        )
    )
    zones = {z.key: z for z in await store.plans.list_zones(plan.id) if z.kind == "area"}
    assert zones["skole"].hint == "Hvordan går det på skolen?" and zones["fritid"].hint is None
    with pytest.raises(InvalidValue):
        await PlanStartRepo(store.sessionmaker).create(
            NewPlan(
                municipality_id=tromsø,
                title="Plan",
                person_name="Ola",
                person_birth_date=None,
                areas=[("skole", "Skole")],
                koordinator_user_id=None,
                draft=True,
                area_updates={"ukjent": (b"\x00\x00", {})},
            )
        )

    statements = StatementRepo(store.sessionmaker)
    await statements.set(tromsø, "personvern", "Vi tar vare på deg 🔒", user_id=kari.id)
    row = await statements.get(tromsø, "personvern")
    assert row is not None and row.body == "Vi tar vare på deg 🔒"
    assert await statements.get(bærum, "personvern") is None
    assert await statements.municipality_of_member(kari.id) == tromsø
    await statements.set(tromsø, "personvern", "  ", user_id=kari.id)  # back to the default
    assert await statements.get(tromsø, "personvern") is None
    with pytest.raises(InvalidValue):
        await statements.set(tromsø, "cookies", "x", user_id=kari.id)
