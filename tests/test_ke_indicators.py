"""The effective-plan indicators on crafted plans (issue 14): each one true on one plan and
false on the other, through the KE overview's filter and CSV, and the same answers on Mine
planer (one rule set, server/core/indicators.py); the SQL fold of the summaries equals the
Python fold Mine planer uses."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from server.core.clock import today_oslo
from server.core.indicators import NAMES, Rules, evaluate, fold
from storage.db import write_session
from storage.models import Meeting, PlanConsent, ZoneSummary
from storage.repositories.plan_facts import PlanFacts, ZoneFold, municipality_facts
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, signed_in
from tests.support.world import ROLE_USERS, World

pytestmark = pytest.mark.both_databases

YES, NO = "Åse Ja-Ødegård ✅", "Øyvind Nei-Åsen ❌"


async def _summaries(
    server: LiveServer,
    plan_id: str,
    content: dict[str, object],
    area: dict[str, object],
    at: datetime,
) -> None:
    plans = server.services.repos.plans
    await plans.add_zone(plan_id, "area", "skole", "Skole og læring 🏫", 0)
    async with write_session(server.services.repos.sessionmaker) as session:
        for kind, key, data in (("content", "", content), ("area", "skole", area)):
            zone = await plans.get_zone(plan_id, kind, key)
            assert zone is not None
            session.add(ZoneSummary(zone_id=zone.id, data=json.dumps(data), updated_at=at))


async def crafted(server: LiveServer, world: World) -> tuple[int, int, str, str]:
    """Two plans in a unit of their own: every indicator met by `yes`, none by `no`."""
    repos = server.services.repos
    world_plan = await repos.plans.get_plan(world.plan_id)
    assert world_plan is not None
    muni = world_plan.municipality_id
    unit = await repos.municipalities.add_unit(muni, "Testenhet 🧪 Ås")
    yes = await repos.plans.create_plan(muni, "Tittel ja", YES)
    no = await repos.plans.create_plan(muni, "Tittel nei", NO)
    jonas, kari, per = (world.users[r] for r in ("planeier", "koordinator", "leser"))
    for plan in (yes, no):
        await repos.municipalities.set_plan_unit(plan.id, unit.id)
        await repos.plans.add_member(plan.id, jonas, "planeier")
        await repos.plans.add_member(plan.id, per, "leser")
    await repos.plans.add_member(yes.id, kari, "koordinator")
    await repos.consents.give(yes.id, per, "all", None, jonas)
    revoked = await repos.consents.give(no.id, per, "all", None, jonas)
    assert revoked is not None
    await repos.consents.revoke(no.id, per, jonas)
    now = datetime.now(UTC)
    today = today_oslo()
    async with write_session(repos.sessionmaker) as session:
        for plan, status in ((yes, "given"), (no, "refused")):
            session.add(
                PlanConsent(
                    plan_id=plan.id,
                    status=status,
                    giver="planeier",
                    giver_name="Jonas Berg",
                    method="oral",
                    given_on=today - timedelta(days=30),
                )
            )
        # An old meeting does not make the `no` plan in use (90 days by default).
        session.add(
            Meeting(plan_id=no.id, title="Gammelt møte", starts_at=now - timedelta(days=100))
        )
        session.add(Meeting(plan_id=yes.id, title="Neste møte", starts_at=now + timedelta(days=9)))
    iso = (today + timedelta(days=60)).isoformat()
    past = (today - timedelta(days=1)).isoformat()
    await _summaries(
        server,
        yes.id,
        {"nextRevision": iso},
        {"openMeasureEnds": [iso], "lastEvaluation": (today - timedelta(days=10)).isoformat()},
        now - timedelta(days=2),
    )
    await _summaries(
        server,
        no.id,
        {"nextRevision": past},
        {
            "openMeasureEnds": [past, "2020-01-01"],
            "lastEvaluation": (today - timedelta(days=400)).isoformat(),
        },
        now - timedelta(days=200),
    )
    return muni, unit.id, yes.id, no.id


def people_in(body: bytes) -> set[str]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8")[1:]), delimiter=";"))
    return {r[1] for r in rows[1:]}


async def test_each_indicator_is_true_on_one_plan_and_false_on_the_other(
    web: LiveServer, world: World
) -> None:
    muni, unit, yes, no = await crafted(web, world)
    admin = await web.services.repos.users.create("ke@eksempelvik.test", "Kåre Enhetsen")
    await web.services.repos.users.set_password_hash(admin.id, hash_password(PASSWORD))
    await web.services.repos.municipalities.add_admin(muni, admin.id, granted_by=None)
    async with signed_in(web.http, "ke@eksempelvik.test") as http:
        for name in NAMES:
            for answer, expected in (("yes", {YES}), ("no", {NO})):
                params = {"unit": str(unit), "indicator": f"{name}.{answer}"}
                got = await http.get(f"/ke/{muni}/overview.csv", params=params)
                assert got.status_code == 200
                assert people_in(got.content) == expected, (name, answer)
                page = await http.get(f"/ke/{muni}", params=params)
                assert page.text.count('data-testid="ke-row"') == 1, (name, answer)
        everything = await http.get(f"/ke/{muni}/overview.csv", params={"unit": str(unit)})
        rows = list(csv.reader(io.StringIO(everything.content.decode("utf-8")[1:]), delimiter=";"))
        by_person = {r[1]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
        assert by_person[NO]["Forfalte tiltak"] == "2"
        assert by_person[NO]["Samtykke til planen"].startswith("Nektet")
        assert by_person[NO]["Samtykke til deling"] == "0 medlemmer"
        assert by_person[NO]["Koordinator"] == "Mangler"
        assert by_person[YES]["Samtykke til deling"] == "1 medlemmer"
        assert by_person[YES]["Neste møte"] != "" and by_person[NO]["Neste møte"] == ""
        # The KE sets N: with 365 days the old meeting makes `no` in use too.
        page = await http.get(f"/ke/{muni}")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        saved = await http.post(
            f"/ke/{muni}/settings",
            data={"csrf_token": token, "in_use_days": "365", "revision_days": "365"},
        )
        assert saved.status_code == 303
        both = await http.get(
            f"/ke/{muni}/overview.csv", params={"unit": str(unit), "indicator": "in_use.yes"}
        )
        assert people_in(both.content) == {YES, NO}
        bad = await http.post(
            f"/ke/{muni}/settings",
            data={"csrf_token": token, "in_use_days": "0", "revision_days": "tre"},
        )
        assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text

    # Mine planer: the planeier sees both, with the same answers.
    async with signed_in(web.http, ROLE_USERS["planeier"][0]) as http:
        page = (await http.get("/plans")).text
    for plan, consent, sharing, flag in (
        (yes, "Gitt", "Gitt til 1 medlem", "Ja"),
        (no, "Nektet", "Ikke gitt til noen", "Nei"),
    ):
        for testid, text in (
            ("plan-consent", consent),
            ("sharing-consent", sharing),
            ("in-use", "Ja"),  # 365 days now: the old meeting counts
            ("evaluated", flag),
        ):
            start = page.index(f'data-testid="{testid}-{plan}"')
            assert text in page[start : start + 200], (testid, plan)


async def test_the_sql_fold_is_the_python_fold(web: LiveServer, world: World) -> None:
    muni, _, yes, no = await crafted(web, world)
    today, now = today_oslo(), datetime.now(UTC)
    facts = {
        f.plan_id: f for f in await municipality_facts(web.services.repos.engine, muni, today, now)
    }
    stored = await web.services.plans.zone_summaries_for_user(world.users["planeier"])
    for plan_id in (yes, no):
        python = fold([(kind, s) for _, kind, _, s in stored[plan_id]], today)
        sql = facts[plan_id].zones
        assert (sql.next_revision, sql.last_evaluation, sql.overdue_measures) == (
            python.next_revision,
            python.last_evaluation,
            python.overdue_measures,
        )


def test_the_rules_at_their_edges() -> None:
    today = date(2026, 3, 1)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    rules = Rules(in_use_days=30, revision_days=100)
    base = PlanFacts("p", "Åse", "active", False, koordinator_id=1)

    def with_zones(**zones: object) -> PlanFacts:
        from dataclasses import replace

        return replace(base, zones=ZoneFold(**zones))  # type: ignore[arg-type]

    edge = now - timedelta(days=30)
    assert evaluate(with_zones(last_edit=edge), today, now, rules).in_use
    assert not evaluate(with_zones(last_edit=edge - timedelta(seconds=1)), today, now, rules).in_use
    evaluated = with_zones(last_evaluation="2025-11-21", next_revision="2026-03-01")
    assert evaluate(evaluated, today, now, rules).evaluated  # 100 days back, revision today
    late = with_zones(last_evaluation="2025-11-20", next_revision="2026-03-01")
    assert not evaluate(late, today, now, rules).evaluated
    overdue_revision = with_zones(last_evaluation="2026-02-28", next_revision="2026-02-28")
    shown = evaluate(overdue_revision, today, now, rules)
    assert shown.revision_overdue and not shown.evaluated
    assert evaluate(with_zones(next_revision="not a date"), today, now, rules).next_revision is None
