"""The KE overview's facts on SQLite and PostgreSQL (issue 14): one municipality's plans with
their koordinator, consents, meetings and zone summaries folded in SQL (JSON functions of
both dialects), never another municipality's."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from storage.db import write_session
from storage.models import (
    Consent,
    Meeting,
    PlanConsent,
    Zone,
    ZoneSummary,
    ZoneUpdate,
)
from storage.repositories.municipalities import MunicipalityRepo
from storage.repositories.plan_facts import ZoneFold, municipality_facts, plan_facts, zone_edits
from tests.storage.conftest import Store

TODAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _summary(
    store: Store, plan_id: str, kind: str, key: str, data: dict[str, object], at: datetime
) -> int:
    async with write_session(store.sessionmaker) as session:
        zone = await store.plans.get_zone(plan_id, kind, key)
        if zone is None:
            zone = Zone(plan_id=plan_id, kind=kind, key=key, title="Skole og læring 🏫")
            session.add(zone)
            await session.flush()
        session.add(ZoneSummary(zone_id=zone.id, data=json.dumps(data), updated_at=at))
        return zone.id


async def test_facts_and_folds_of_one_municipality(store: Store) -> None:
    munis = MunicipalityRepo(store.sessionmaker)
    a = await munis.ensure("Ålesund kommune")
    b = await munis.ensure("Bærum kommune 🌲")
    unit = await munis.add_unit(a.id, "Helsestasjon Øst")
    full = await store.plans.create_plan(a.id, "Plan 🧠 æøå", "Åse Ødegård")
    bare = await store.plans.create_plan(a.id, "Plan 2", "Øystein Å")
    other = await store.plans.create_plan(b.id, "Plan B", "Bjørn Bærum")
    await munis.set_plan_unit(full.id, unit.id)
    kari = await store.users.create("kari@eksempel.test", "Kari Nilsen")
    per = await store.users.create("per@eksempel.test", "Per Lund")
    ola = await store.users.create("ola@eksempel.test", "Ola Nordmann")
    await store.plans.add_member(full.id, kari.id, "koordinator")
    await store.plans.add_member(full.id, per.id, "deltaker")
    await store.plans.add_member(full.id, ola.id, "leser")
    await store.plans.add_member(other.id, kari.id, "koordinator")
    async with write_session(store.sessionmaker) as session:
        for status, day in (("refused", date(2026, 1, 1)), ("given", date(2026, 1, 5))):
            session.add(
                PlanConsent(
                    plan_id=full.id,
                    status=status,
                    giver="planeier",
                    giver_name="Åse Ødegård",
                    method="oral",
                    given_on=day,
                )
            )
        session.add(
            PlanConsent(
                plan_id=bare.id,
                status="refused",
                giver="verge",
                giver_name="Line Berg",
                method="written",
                given_on=date(2026, 2, 1),
            )
        )
        # Per's consent is active; Ola's ran out yesterday; a revoked one counts for nothing.
        session.add(Consent(plan_id=full.id, user_id=per.id, status="given", scope='"all"'))
        session.add(
            Consent(
                plan_id=full.id,
                user_id=ola.id,
                status="given",
                scope='"all"',
                valid_until=TODAY - timedelta(days=1),
            )
        )
        session.add(Meeting(plan_id=full.id, title="Møte 1", starts_at=NOW - timedelta(days=10)))
        session.add(
            Meeting(
                plan_id=full.id,
                title="Avlyst",
                starts_at=NOW - timedelta(days=1),
                cancelled_at=NOW - timedelta(days=2),
            )
        )
        session.add(Meeting(plan_id=full.id, title="Møte 2", starts_at=NOW + timedelta(days=7)))
        session.add(Meeting(plan_id=other.id, title="B", starts_at=NOW + timedelta(days=1)))
    edited = NOW - timedelta(days=3)
    await _summary(store, full.id, "content", "", {"nextRevision": "2026-06-01"}, edited)
    skole = await _summary(
        store,
        full.id,
        "area",
        "skole",
        {
            "openMeasureEnds": ["2026-01-01", "2026-02-28", "2026-03-01"],
            "lastEvaluation": "2026-02-01",
        },
        edited - timedelta(days=30),
    )
    await _summary(
        store,
        full.id,
        "area",
        "fritid",
        {"openMeasureEnds": ["2025-12-24"], "lastEvaluation": "2026-02-20"},
        edited,
    )
    retired = await _summary(
        store,
        full.id,
        "area",
        "gammel",
        {"openMeasureEnds": ["2020-01-01"], "lastEvaluation": "2026-02-27"},
        edited,
    )
    async with write_session(store.sessionmaker) as session:
        (await session.get(Zone, retired)).retired_at = NOW  # type: ignore[union-attr]
        session.add(ZoneUpdate(zone_id=skole, data=b"\x00", created_at=NOW - timedelta(hours=1)))

    facts = {f.plan_id: f for f in await municipality_facts(store.engine, a.id, TODAY, NOW)}
    assert set(facts) == {full.id, bare.id}  # nothing of Bærum
    f = facts[full.id]
    assert (f.person_name, f.unit_id, f.unit_name) == ("Åse Ødegård", unit.id, "Helsestasjon Øst")
    assert (f.koordinator_id, f.koordinator_name) == (kari.id, "Kari Nilsen")
    assert (f.plan_consent, f.plan_consent_on) == ("given", date(2026, 1, 5))
    assert f.sharing_consents == 1
    assert f.last_meeting == NOW - timedelta(days=10)  # the cancelled one does not count
    assert f.next_meeting == NOW + timedelta(days=7)
    # Overdue: 2026-01-01, 2026-02-28 and 2025-12-24 (ending today is not overdue yet); the
    # retired area counts for nothing. The last edit is the logged tail's.
    assert f.zones == ZoneFold("2026-06-01", "2026-02-20", 3, NOW - timedelta(hours=1))
    g = facts[bare.id]
    assert (g.koordinator_id, g.plan_consent, g.sharing_consents) == (None, "refused", 0)
    assert (g.last_meeting, g.next_meeting, g.zones) == (None, None, ZoneFold())

    by_id = await plan_facts(store.engine, [full.id, other.id], TODAY, NOW)
    assert by_id[other.id].person_name == "Bjørn Bærum"
    assert by_id[full.id].zones == ZoneFold()  # the caller folds what its reader may open
    edits = await zone_edits(store.engine, [skole])
    assert edits == {skole: NOW - timedelta(hours=1)}
