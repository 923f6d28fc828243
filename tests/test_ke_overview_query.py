"""The KE overview's fast path against the plain reference, on a varied generated
municipality (issue 14, Done-when 3): the unit, koordinator, status and `coordinator`
filters answered by SQL (`Narrowing`), the light rows sorted and paged with only the page's
facts read, and the kept orders, each give exactly the plans, order and indicators that
reading every fact of every plan and filtering and sorting them in Python gives, for every
filter and every sort, cold and warm, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from server.core.clock import today_oslo
from server.core.indicators import Indicators, Rules, evaluate
from server.ke.overview import (
    NONE,
    PAGE_SIZE,
    SORTS,
    Query,
    Row,
    forget,
    indicator_choices,
    page_of,
    select_rows,
)
from storage.db import write_session
from storage.models import Consent, Meeting, Plan, PlanConsent, Zone, ZoneSummary
from storage.repositories.plan_facts import PlanFacts, municipality_facts
from tests.support.live import LiveServer
from tests.support.world import World

pytestmark = pytest.mark.both_databases

NAMES = [
    "Åse Ødegård 🌸",
    "åse ødegård 🌸",  # the same name folded: the id decides
    "Æsop Ærlig",
    "Øystein Øvre",
    "Zorro Zeta",
    "aage aas",
    "Ärla Ängel",
    "Bjørn Bærum 🌲",
    "Kåre Kløv",
    "Åse Ødegård 🌸",  # twice: equal names, the id decides
]
PLANS = 64


async def _municipality(server: LiveServer, world: World) -> tuple[int, list[int], list[int]]:
    """A municipality of its own with PLANS plans of every kind: with and without unit and
    koordinator, active, closed and draft, consents given, refused, revoked and expired,
    meetings held long ago, lately and ahead, summaries of every shape (and none)."""
    rnd = random.Random(1414)
    repos = server.services.repos
    muni = (await repos.municipalities.ensure("Øvre Ærøy kommune 🏔")).id
    await repos.municipalities.set_overview_rules(muni, in_use_days=60, revision_days=200)
    units = [
        (await repos.municipalities.add_unit(muni, name)).id
        for name in ("Åsen skole 🏫", "Ærlig helsestasjon", "Øst barnevern")
    ]
    koordinatorer = [
        (await repos.users.create(f"k{i}@ærøy.test", name)).id
        for i, name in enumerate(("Åshild Ås", "Ødd Ørnes", "Bård Bø", "aslak aune"))
    ]
    deltaker = (await repos.users.create("deltaker@ærøy.test", "Dagny Dåm 🙂")).id
    now, today = datetime.now(UTC), today_oslo()

    def day(low: int, high: int) -> str:
        return (today + timedelta(days=rnd.randint(low, high))).isoformat()

    for i in range(PLANS):
        plan = await repos.plans.create_plan(muni, f"Tittel {i} 🤫", NAMES[i % len(NAMES)])
        if rnd.random() < 0.8:
            await repos.municipalities.set_plan_unit(plan.id, rnd.choice(units))
        if rnd.random() < 0.75:
            await repos.plans.add_member(plan.id, rnd.choice(koordinatorer), "koordinator")
        await repos.plans.add_member(plan.id, deltaker, "deltaker")
        async with write_session(repos.sessionmaker) as session:
            status = rnd.choice(["active", "active", "closed"])
            draft = rnd.random() < 0.2
            await session.execute(
                update(Plan).where(Plan.id == plan.id).values(status=status, draft=draft)
            )
            for _ in range(rnd.randint(0, 2)):
                session.add(
                    PlanConsent(
                        plan_id=plan.id,
                        status=rnd.choice(["given", "refused"]),
                        giver="planeier",
                        giver_name="Åse Ødegård",
                        method="oral",
                        given_on=today - timedelta(days=rnd.randint(0, 400)),
                    )
                )
            if rnd.random() < 0.7:
                session.add(
                    Consent(
                        plan_id=plan.id,
                        user_id=deltaker,
                        status="given",
                        scope='"all"',
                        valid_until=rnd.choice([None, today - timedelta(days=3), today]),
                        given_at=now,
                        revoked_at=now if rnd.random() < 0.2 else None,
                    )
                )
            for _ in range(rnd.randint(0, 3)):
                session.add(
                    Meeting(
                        plan_id=plan.id,
                        title="Møte 🗓",
                        starts_at=now + timedelta(days=rnd.randint(-120, 40), hours=3),
                        cancelled_at=now if rnd.random() < 0.2 else None,
                    )
                )
            zones = {z.kind + z.key: z for z in await repos.plans.list_zones(plan.id)}
            if rnd.random() < 0.85:
                data = {"nextRevision": day(-60, 200)} if rnd.random() < 0.8 else {}
                session.add(
                    ZoneSummary(
                        zone_id=zones["content"].id,
                        data=json.dumps(data),
                        updated_at=now - timedelta(days=rnd.randint(0, 150)),
                    )
                )
            for n in range(rnd.randint(0, 2)):
                area = Zone(
                    plan_id=plan.id,
                    kind="area",
                    key=f"område{n}",
                    title="Skole og læring 🏫",
                    position=n,
                    retired_at=now if rnd.random() < 0.2 else None,
                )
                session.add(area)
                await session.flush()
                ends = sorted(day(-100, 100) for _ in range(rnd.randint(0, 4)))
                evaluation = day(-300, 0) if rnd.random() < 0.7 else None
                session.add(
                    ZoneSummary(
                        zone_id=area.id,
                        data=json.dumps({"openMeasureEnds": ends, "lastEvaluation": evaluation}),
                        updated_at=now - timedelta(days=rnd.randint(0, 150)),
                    )
                )
    return muni, units, koordinatorer


# --- the reference: every fact of every plan, filtered and sorted in plain Python ----------

# The Norwegian alphabet, letter by letter (ä as æ, ö as ø, aa as å); any other character by
# its code point, which puts a space and digits before the letters and other scripts after them.
_ALPHABET = "abcdefghijklmnopqrstuvwxyzæøå"
_RANK = {letter: ord("a") + n for n, letter in enumerate(_ALPHABET)} | {
    "ä": ord("a") + 26,
    "ö": ord("a") + 27,
}


def _fold(text: str | None) -> tuple[int, ...]:
    return tuple(_RANK.get(c, ord(c)) for c in (text or "").casefold().replace("aa", "å"))


def _status(f: PlanFacts) -> str:
    return "draft" if f.draft else f.status


def _met(ind: Indicators, name: str) -> bool:
    return {
        "coordinator": ind.coordinator,
        "plan_consent": ind.plan_consent,
        "sharing_consent": ind.sharing_consent,
        "in_use": ind.in_use,
        "evaluated": ind.evaluated,
        "overdue": ind.overdue_measures == 0,
        "revision": not ind.revision_overdue,
    }[name]


def _reference(rows: list[Row], q: Query) -> list[Row]:
    def keep(row: Row) -> bool:
        f = row.facts
        if q.unit and f.unit_id != (None if q.unit == NONE else int(q.unit)):
            return False
        if q.coordinator and f.koordinator_id != (
            None if q.coordinator == NONE else int(q.coordinator)
        ):
            return False
        if q.status and _status(f) != q.status:
            return False
        if q.indicator:
            name, answer = q.indicator.rsplit(".", 1)
            return _met(row.indicators, name) == (answer == "yes")
        return True

    keys: dict[str, Callable[[Row], Any]] = {
        "person": lambda r: _fold(r.facts.person_name),
        "unit": lambda r: _fold(r.facts.unit_name) if r.facts.unit_name else None,
        "coordinator": lambda r: (
            _fold(r.facts.koordinator_name) if r.facts.koordinator_id else None
        ),
        "status": lambda r: ["active", "closed", "draft"].index(_status(r.facts)),
        "next_revision": lambda r: r.indicators.next_revision,
        "next_meeting": lambda r: r.indicators.next_meeting,
        "overdue": lambda r: r.indicators.overdue_measures,
        "last_activity": lambda r: r.indicators.last_activity,
    }
    kept = sorted(filter(keep, rows), key=lambda r: (_fold(r.facts.person_name), r.facts.plan_id))
    key = keys[q.sort]
    present = sorted(
        (r for r in kept if key(r) is not None), key=key, reverse=q.direction == "desc"
    )
    return present + [r for r in kept if key(r) is None]


async def _paged(server: LiveServer, muni: Any, q: Query, every_fact: bool) -> list[Row]:
    """Every page of the overview (or the CSV's rows), as the server builds them."""
    selection = await select_rows(server.services, muni, q, every_fact=every_fact)
    assert not q.errors, q.errors
    if every_fact:
        assert selection.rows is not None
        return selection.rows
    rows: list[Row] = []
    page = 1
    while True:
        q.page = page
        found, pages = await page_of(server.services, muni.id, selection, q)
        rows += found
        if page >= pages:
            break
        page += 1
    assert len(rows) == selection.total
    return rows


async def test_every_filter_and_sort_gives_what_the_reference_gives(
    server: LiveServer, world: World
) -> None:
    muni_id, units, koordinatorer = await _municipality(server, world)
    services = server.services
    muni = await services.repos.municipalities.get(muni_id)
    assert muni is not None
    rules = Rules(muni.in_use_days, muni.revision_days)
    assert rules == Rules(60, 200)
    today, now = today_oslo(), datetime.now(UTC)
    facts = await municipality_facts(services.repos.engine, muni_id, today, now)
    assert len(facts) == PLANS
    reference_rows = [Row(f, evaluate(f, today, now, rules)) for f in facts]
    # The generated set covers each answer of each indicator, so no filter is empty by luck.
    for choice in indicator_choices():
        name, answer = choice.rsplit(".", 1)
        assert any(_met(r.indicators, name) == (answer == "yes") for r in reference_rows), choice

    def check(q: Query, got: list[Row], how: str) -> None:
        want = _reference(reference_rows, q)
        assert [r.facts.plan_id for r in got] == [r.facts.plan_id for r in want], (how, q)
        by_id = {r.facts.plan_id: r for r in want}
        for row in got:  # every fact and indicator the page shows
            assert row.facts == by_id[row.facts.plan_id].facts, (how, q)
            assert row.indicators == by_id[row.facts.plan_id].indicators, (how, q)

    checked = 0
    # Every combination of the SQL filters, alone and with an indicator (each in turn);
    # every indicator alone.
    choices = indicator_choices()
    combinations = [
        (unit, coordinator, status, indicator)
        for unit in ("", NONE, str(units[0]))
        for coordinator in ("", NONE, str(koordinatorer[1]))
        for status in ("", "active", "closed", "draft")
        for indicator in ("", choices[(len(unit) + len(coordinator) * 3 + len(status)) % 14])
    ] + [("", "", "", indicator) for indicator in choices]
    for unit, coordinator, status, indicator in combinations:
        q = Query(unit, coordinator, status, indicator)
        forget(services, muni_id)
        check(q, await _paged(server, muni, q, False), "cold")
        check(q, await _paged(server, muni, q, False), "warm")
        checked += 1
    # Every sort, both ways, with and without filters; and the CSV's rows.
    for sort in SORTS:
        for direction in ("asc", "desc"):
            for unit, indicator in (("", ""), (str(units[1]), "in_use.no"), (NONE, "")):
                q = Query(unit, "", "", indicator, sort, direction)
                forget(services, muni_id)
                check(q, await _paged(server, muni, q, False), "cold page")
                check(q, await _paged(server, muni, q, True), "csv")
                check(q, await _paged(server, muni, q, False), "warm page")
                checked += 1
    assert checked == 3 * 3 * 4 * 2 + 14 + len(SORTS) * 2 * 3
    assert PLANS > PAGE_SIZE  # the light path pages: more than one page read


async def test_the_first_page_is_in_norwegian_alphabetical_order(
    server: LiveServer, world: World
) -> None:
    """By name, as the overview opens and reversed: æ, ø and å after z (ä, ö with æ, ø; aa as å),
    upper and lower case alike, ties by the plan's id; SQL pages it by `plans.sort_key`."""
    muni_id, _, _ = await _municipality(server, world)
    muni = await server.services.repos.municipalities.get(muni_id)
    assert muni is not None
    shown = [r.facts.person_name.casefold() for r in await _paged(server, muni, Query(), False)]
    in_order = [
        "bjørn bærum 🌲",
        "kåre kløv",
        "zorro zeta",
        "ärla ängel",
        "æsop ærlig",
        "øystein øvre",
        "aage aas",  # aa is å: before "åse" as "åge" < "åse"
        "åse ødegård 🌸",
    ]
    assert list(dict.fromkeys(shown)) == in_order
    assert len(shown) == PLANS
    q = Query(direction="desc")
    backwards = [r.facts.person_name.casefold() for r in await _paged(server, muni, q, False)]
    assert list(dict.fromkeys(backwards)) == in_order[::-1]


async def test_an_id_of_another_municipality_or_none_at_all_is_refused(
    server: LiveServer, world: World
) -> None:
    """The koordinator filter offers the municipality's own koordinators only; another's
    id is as unknown as a made-up one (no rows, the parameter named)."""
    muni_id, _, koordinatorer = await _municipality(server, world)
    muni = await server.services.repos.municipalities.get(muni_id)
    assert muni is not None
    selection = await select_rows(server.services, muni, Query(coordinator="999999"))
    assert selection.total == 0 and selection.coordinators
    assert {uid for uid, _ in selection.coordinators} <= set(koordinatorer)
    stranger = await server.services.repos.users.create("fremmed@ærøy.test", "Frida Fremmed 🙃")
    q = Query(coordinator=str(stranger.id))
    assert (await select_rows(server.services, muni, q)).total == 0
    assert q.errors == ["coordinator"]
