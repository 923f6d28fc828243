from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc

from crdt.richtext import nodes_plain
from crdt.schema import AREA, COMMENTS, CONTENT, MINUTES, read_zone, zone_name
from server.demo import content as demo

IDS = {m.email: 100 + i for i, m in enumerate(demo.MEMBERS)}
MEMBER_IDS = {str(i) for i in IDS.values()}
ID_OF = {m.name: str(IDS[m.email]) for m in demo.MEMBERS}


@pytest.fixture(scope="module")
def zones() -> dict[tuple[str, str], dict[str, Any]]:
    """Each zone read back from a fresh Doc that only applied the built update."""
    result = {}
    for (kind, key), update in demo.build_zone_docs(IDS).items():
        doc: Doc[Any] = Doc()
        doc.apply_update(update)
        result[(kind, key)] = read_zone(doc, kind)
    return result


def _by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def test_every_zone_builds_and_reads_back_as_written(
    zones: dict[tuple[str, str], dict[str, Any]],
) -> None:
    expected = {(CONTENT, ""), (COMMENTS, ""), (MINUTES, demo.MEETING_ID)}
    expected |= {(AREA, a.id) for a in demo.AREAS}
    assert set(zones) == expected
    for (kind, key), data in demo.zone_data(IDS).items():
        zone_name(kind, key)
        # the content zone's legacy `contributions` root reads as empty: nothing writes it
        legacy = {"contributions": []} if kind == CONTENT else {}
        assert zones[(kind, key)] == {**legacy, **data}


def test_members_and_roles() -> None:
    roles = {m.name: m.role for m in demo.MEMBERS}
    assert roles["Jonas Berg"] == "planeier" and roles["Line Berg"] == "verge"
    assert [m.name for m in demo.MEMBERS if m.role == "koordinator"] == ["Kari Nilsen"]
    assert roles["Dr. Per Lund"] == "leser"
    assert {n for n, r in roles.items() if r == "deltaker"} == {
        "Ahmed Rahimi",
        "Silje Haugen",
        "Dr. Maria Olsen",
        "Tor Eriksen",
        "Erik Berg",
    }
    emails = [m.email for m in demo.MEMBERS]
    assert len(set(emails)) == len(emails)
    assert "jonas.berg@eksempelvik.demo" in emails and "maria.olsen@eksempelvik.demo" in emails
    assert demo.PLAN["title"] == "Individuell plan for Jonas Berg"
    assert demo.PLAN["municipality"] == "Eksempelvik kommune"


def test_missing_member_id_is_an_error() -> None:
    with pytest.raises(KeyError):
        demo.build_zone_docs({})


def test_goals_measures_and_evaluation(zones: dict[tuple[str, str], dict[str, Any]]) -> None:
    titles = {a.id: a.title for a in demo.AREAS}
    assert titles == {
        "skole": "Skole og læring",
        "hjem": "Hjem og hverdag",
        "fritid": "Fritid",
        "helse": "Helse og overgang til voksenlivet",
    }
    skole = zones[(AREA, "skole")]
    goals = _by_id(skole["goals"])
    assert goals["m1"]["title"] == "Jeg vil fullføre vg1 IKT." and goals["m1"]["parentId"] is None
    assert goals["m1-1"]["parentId"] == "m1" and goals["m1-1"]["label"] == "1.1"
    measures = _by_id(skole["measures"])
    assert measures["t1-1"]["status"] == "pagar"
    assert measures["t1-1"]["responsible"] == [ID_OF["Ahmed Rahimi"]]
    assert measures["t1-2"]["status"] == "soekt"
    assert measures["t1-2"]["externalParty"] == "NAV Hjelpemiddelsentral"
    assert measures["t1-3"]["meetingId"] == demo.MEETING_ID
    (evaluation,) = skole["evaluations"]
    assert evaluation["goalId"] == "m1-1" and evaluation["attainment"] == "delvis"
    assert evaluation["ownerComment"] == "Det hjelper å ha en fast dag med Ahmed."
    assert "78 %" in evaluation["result"]
    fritid = _by_id(zones[(AREA, "fritid")]["measures"])
    assert fritid["t3-2"]["status"] == "fullfort"
    assert "støttekontakt" in nodes_plain(fritid["t3-2"]["description"])
    all_goals = {g["title"] for a in demo.AREAS for g in zones[(AREA, a.id)]["goals"]}
    assert "Jeg vil vite hva som skjer når jeg blir 18." in all_goals
    assert "Jeg vil klare meg mer selv hjemme." in all_goals


def test_references_point_at_things_that_exist(
    zones: dict[tuple[str, str], dict[str, Any]],
) -> None:
    goal_area = {}
    for area in demo.AREAS:
        zone = zones[(AREA, area.id)]
        goals = _by_id(zone["goals"])
        goal_area.update(dict.fromkeys(goals, area.id))
        for goal in goals.values():
            assert goal["parentId"] is None or goal["parentId"] in goals
            assert "updatedBy" not in goal and "updatedAt" not in goal  # never stamped
        for item in zone["measures"] + zone["evaluations"]:
            assert item["goalId"] in goals, item["id"]
            assert item["responsible"] and set(item["responsible"]) <= MEMBER_IDS
            assert "updatedBy" not in item and "updatedAt" not in item
    minutes = zones[(MINUTES, demo.MEETING_ID)]
    agenda = _by_id(minutes["agenda"])
    for action in minutes["actionItems"]:
        assert action["agendaId"] in agenda
        assert goal_area[action["goalId"]] == action["areaId"]
        assert action["responsibleUserId"] in MEMBER_IDS
    for comment in zones[(COMMENTS, "")]["comments"]:
        assert comment["anchorId"] in goal_area or any(
            comment["anchorId"] in _by_id(zones[(AREA, a.id)]["measures"]) for a in demo.AREAS
        )


def test_content_zone(zones: dict[tuple[str, str], dict[str, Any]]) -> None:
    content = zones[(CONTENT, "")]
    assert content["meta"] == {
        "planPeriodStart": "2025-09-01",
        "planPeriodEnd": "2026-08-31",
        "nextRevision": "2026-01-15",
        "status": "aktiv",
    }
    assert "god med data og e-sport" in nodes_plain(content["resources"])
    assert "- Tilrettelagt transport" in nodes_plain(content["needs"]).splitlines()
    assert {p["kind"] for p in content["otherPlans"]} == {
        "IOP",
        "treningsprogram",
        "behandlingsplan",
    }
    # What each member contributes lives in their membership alone (issue 11), not here.
    assert content.get("contributions", []) == []


def test_minutes_of_the_meeting(zones: dict[tuple[str, str], dict[str, Any]]) -> None:
    (meeting,) = demo.MEETINGS
    assert meeting.id == "mote-2026-01-15" and meeting.place == "Eksempelvik vgs., rom 204 / video"
    assert meeting.starts_at.isoformat() == "2026-01-15T14:00:00+01:00"
    assert (meeting.ends_at - meeting.starts_at).total_seconds() == 3600
    minutes = zones[(MINUTES, meeting.id)]
    assert minutes["meeting"]["meetingId"] == meeting.id
    attendees = _by_id(minutes["attendees"])
    present = {a["name"] for a in attendees.values() if a["present"]}
    assert present == {
        "Jonas Berg",
        "Line Berg",
        "Kari Nilsen",
        "Ahmed Rahimi",
        "Silje Haugen",
        "Tor Eriksen",
    }
    assert [a["name"] for a in attendees.values() if a["apology"]] == ["Dr. Maria Olsen"]
    titles = [s["title"] for s in minutes["agenda"]]
    assert titles[0] == "Sak 1 – Jonas' situasjon" and len(titles) == 5
    assert "01.02.2026" in minutes["agenda"][2]["decision"]
    due = {a["due"] for a in minutes["actionItems"]}
    assert {"2026-02-01", "2026-01-22"} <= due


def test_meeting_agenda_matches_the_minutes_and_points_at_real_items(
    zones: dict[tuple[str, str], dict[str, Any]],
) -> None:
    minutes = zones[(MINUTES, demo.MEETING_ID)]
    assert [f"Sak {n} – {title}" for n, title, _ in demo.MEETING_AGENDA] == [
        s["title"] for s in minutes["agenda"]
    ]
    for _, _, ref in demo.MEETING_AGENDA:
        if ref is None:
            continue
        kind, area, item_id = ref
        root = "goals" if kind == "goal" else "measures"
        assert item_id in {item["id"] for item in zones[(AREA, area)][root]}, ref
    invited = {a["name"] for a in minutes["attendees"]}
    assert {m.name for m in demo.MEMBERS if m.email in demo.MEETING_INVITEES} == invited
