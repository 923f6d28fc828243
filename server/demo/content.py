"""The fictional demo plan (Jonas Berg, Eksempelvik kommune) as the project's own data.

Every name, diagnosis and place here is invented (see shared/domain/sample-plan.md). Pure data
plus `build_zone_docs` and `area_history`; the database side lives in `server.demo.loader`.
Who wrote each goal, measure and evaluation, and when, is not stamped into the documents (a
stamp is never read): `area_history` gives each area as a made-up series of changes, each by
one member, which the loader stores as the server's records of who changed what. The texts are
Norwegian because that is what users see; member references become real user ids only at
build time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crdt import schema
from crdt.richtext import blocks_to_nodes
from crdt.schema import AREA, COMMENTS, CONTENT, EVALUATIONS, MINUTES
from server.core.clock import OSLO

DEMO_KEY = "demo-jonas-berg"
# One shared password for every demo user. Demo only: the demo plan is fictional and a
# deployment with real people never runs `samplan demo`.
DEMO_PASSWORD = "samplan-demo"


PLAN: dict[str, Any] = {
    "title": "Individuell plan for Jonas Berg",
    "person_name": "Jonas Berg",
    "person_age": 16,  # when the plan was made (sample-plan.md), and so:
    # 16 before he signed the consent on 28.08.2025 (over 16: he consents himself) and in vg1
    # that autumn; 18 in spring 2027, the transition goal M4 is about. Invented, like the rest.
    "person_birth_date": "2009-03-14",
    "municipality": "Eksempelvik kommune",
    "plan_type": "Individuell plan",
    "plan_period_start": "2025-09-01",
    "plan_period_end": "2026-08-31",
    "next_revision": "2026-01-15",
    "status": "aktiv",
    "coordinator_email": "kari.nilsen@eksempelvik.demo",
}


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    email: str
    role: str
    title: str
    unit: str | None
    contribution: str


@dataclass(frozen=True, slots=True)
class Area:
    id: str
    title: str
    position: int


@dataclass(frozen=True, slots=True)
class Meeting:
    id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str
    minutes_approved_by: str  # e-mail of the member who approved the minutes
    minutes_approved_on: str


def _email(name: str) -> str:
    local = name.removeprefix("Dr. ").lower().replace(" ", ".")
    return f"{local}@eksempelvik.demo"


_KOMMUNE = "Eksempelvik kommune"
MEMBERS: list[Member] = [
    Member(
        "Jonas Berg",
        _email("Jonas Berg"),
        "planeier",
        "Planeier",
        None,
        "Setter målene, følger treningsprogrammet og sier fra om hva som fungerer.",
    ),
    Member(
        "Line Berg",
        _email("Line Berg"),
        "verge",
        "Mor / foresatt",
        None,
        "Kjører til trening og holder kontakten med skolen hjemmefra.",
    ),
    Member(
        "Kari Nilsen",
        _email("Kari Nilsen"),
        "koordinator",
        "Koordinator, ergoterapeut",
        f"Tjenester for funksjonshemmede, {_KOMMUNE}",
        "Leder planarbeidet, kaller inn til møter og har ansvar for hjelpemidler i hjemmet.",
    ),
    Member(
        "Ahmed Rahimi",
        _email("Ahmed Rahimi"),
        "deltaker",
        "Kontaktlærer",
        "Eksempelvik vgs.",
        "IOP, tilrettelegging på skolen og rapport fra skolen.",
    ),
    Member(
        "Silje Haugen",
        _email("Silje Haugen"),
        "deltaker",
        "Fysioterapeut",
        "Kommunal fysioterapitjeneste",
        "Treningsprogram og oppfølging på treningssenteret.",
    ),
    Member(
        "Dr. Maria Olsen",
        _email("Dr. Maria Olsen"),
        "deltaker",
        "Lege",
        "Habiliteringstjenesten for barn og unge (HABU), Eksempel HF",
        "Spesialistoppfølging og forberedelse av overgangen til voksenhabilitering.",
    ),
    Member(
        "Tor Eriksen",
        _email("Tor Eriksen"),
        "deltaker",
        "Rådgiver",
        "NAV Eksempelvik",
        "Informasjon om arbeidsrettede tiltak og grunnstønad.",
    ),
    Member(
        "Erik Berg",
        _email("Erik Berg"),
        "deltaker",
        "Far / pårørende",
        None,
        "Følger opp søknaden om tilrettelagt førerkort.",
    ),
    Member(
        "Dr. Per Lund",
        _email("Dr. Per Lund"),
        "leser",
        "Fastlege",
        "Eksempelvik legesenter",
        "Medisinsk koordinering (leser planen).",
    ),
]

AREAS: list[Area] = [
    Area("skole", "Skole og læring", 1),
    Area("hjem", "Hjem og hverdag", 2),
    Area("fritid", "Fritid", 3),
    Area("helse", "Helse og overgang til voksenlivet", 4),
]

MEETING_ID = "mote-2026-01-15"
MEETINGS: list[Meeting] = [
    Meeting(
        MEETING_ID,
        "Ansvarsgruppemøte 15. januar 2026",
        datetime(2026, 1, 15, 14, 0, tzinfo=OSLO),
        datetime(2026, 1, 15, 15, 0, tzinfo=OSLO),
        "Eksempelvik vgs., rom 204 / video",
        minutes_approved_by=_email("Jonas Berg"),
        minutes_approved_on="2026-01-17",
    ),
]

# The meeting's invitees and agenda in SQL (issue 5). The agenda ids are the ids of the agenda
# sections in the minutes (`sak-<n>`); a reference points at the goal or measure discussed.
MEETING_INVITEES: tuple[str, ...] = tuple(
    _email(name)
    for name in (
        "Jonas Berg",
        "Line Berg",
        "Kari Nilsen",
        "Ahmed Rahimi",
        "Silje Haugen",
        "Dr. Maria Olsen",
        "Tor Eriksen",
    )
)
# (number, title, reference (kind, area id, item id) or None)
MEETING_AGENDA: tuple[tuple[int, str, tuple[str, str, str] | None], ...] = (
    (1, "Jonas' situasjon", None),
    (2, "Evaluering av M1", ("goal", "skole", "m1")),
    (3, "Elektrisk rullestol", ("measure", "skole", "t1-2")),
    (4, "Trening", ("goal", "fritid", "m3-1")),
    (5, "Overgang til 18 år", ("goal", "helse", "m4-1")),
)

# Samtykke, signed by Jonas himself (over 16) on 28.08.2025. The school's reservation: it sees
# only "Skole og læring" and "Fritid" (and the minutes of the meeting it attended).
CONSENT: dict[str, Any] = {
    "given_by": _email("Jonas Berg"),
    "given_on": "2025-08-28",
    "valid_until": "2026-08-31",
    "zones_by_email": {
        _email("Ahmed Rahimi"): (
            schema.zone_name(AREA, "skole"),
            schema.zone_name(AREA, "fritid"),
            schema.zone_name(MINUTES, MEETING_ID),
        ),
    },  # members not listed: every zone of the plan
}

_SEPT = "2025-09-05T08:30:00Z"
_MEETING_END = "2026-01-15T14:05:00Z"
_OWNER_COMMENT_AT = "2026-01-16T18:40:00Z"  # Jonas adds his comment the evening after


@dataclass(frozen=True, slots=True)
class Written:
    """One item of an area list and who (a user id) wrote it, when (ISO 8601 UTC)."""

    item: dict[str, Any]
    by: str
    at: str = _SEPT


@dataclass(frozen=True, slots=True)
class Edit:
    """One change of the demo's made-up history: `by` (a user id) at `at` created item
    `fields["id"]` in `root` (`created`) or wrote `fields` into it."""

    by: str
    at: str
    root: str
    fields: dict[str, Any]
    created: bool = False


@dataclass(frozen=True, slots=True)
class _Area:
    lists: dict[str, list[Written]]
    later: list[Edit] = field(default_factory=list)  # changes after the items were written


def _rich(*blocks: Any) -> list[dict[str, Any]]:
    return blocks_to_nodes(list(blocks))


def _goal(
    gid: str,
    label: str,
    title: str,
    by: str,
    parent: str | None = None,
    description: tuple[Any, ...] = (),
) -> Written:
    item = {
        "id": gid,
        "parentId": parent,
        "label": label,
        "title": title,
        "description": _rich(*description),
    }
    return Written(item, by)


def _measure(
    mid: str,
    goal: str,
    title: str,
    description: str,
    responsible: list[str],
    scope: str,
    start: str | None,
    end: str | None,
    status: str,
    by: str,
    external: str = "",
    meeting: str | None = None,
    updated: str = _SEPT,
) -> Written:
    item = {
        "id": mid,
        "goalId": goal,
        "title": title,
        "description": _rich(description),
        "responsible": responsible,
        "externalParty": external,
        "scope": scope,
        "start": start,
        "end": end,
        "status": status,
        "meetingId": meeting,
    }
    return Written(item, by, updated)


def _areas(u: Mapping[str, str]) -> dict[str, _Area]:
    jonas, line, kari = u["Jonas Berg"], u["Line Berg"], u["Kari Nilsen"]
    ahmed, silje, maria, tor = (
        u["Ahmed Rahimi"],
        u["Silje Haugen"],
        u["Dr. Maria Olsen"],
        u["Tor Eriksen"],
    )
    skole = {
        "goals": [
            _goal(
                "m1",
                "M1",
                "Jeg vil fullføre vg1 IKT.",
                jonas,
                description=(
                    "Jonas går vg1 IKT på Eksempelvik vgs. og vil fullføre året med bestått.",
                ),
            ),
            _goal("m1-1", "1.1", "Levere 90 % av innleveringene i tide", ahmed, "m1"),
            _goal("m1-2", "1.2", "Komme seg til timene uten hjelp mellom byggene", kari, "m1"),
        ],
        "measures": [
            _measure(
                "t1-1",
                "m1-1",
                "Ukentlig planleggingsmøte med kontaktlærer",
                "Fast møte hver uke der Jonas og Ahmed går gjennom innleveringer og frister.",
                [ahmed],
                "20 minutter hver uke",
                "2025-09-01",
                None,
                "pagar",
                ahmed,
            ),
            _measure(
                "t1-2",
                "m1-2",
                "Elektrisk rullestol på skolen og nøkkelkort til heisen",
                "Søknad om elektrisk rullestol er sendt NAV Hjelpemiddelsentral. Skolen "
                "ordner nøkkelkort til heisen.",
                [kari],
                "Søknad og utlevering",
                "2025-09-01",
                "2025-11-01",
                "soekt",
                kari,
                external="NAV Hjelpemiddelsentral",
            ),
            _measure(
                "t1-3",
                "m1-1",
                "Digital påminnelse på mobilen",
                "Påminnelser om innleveringer i skole-appen på Jonas' mobil.",
                [ahmed, jonas],
                "Daglig",
                "2026-01-19",
                None,
                "planlagt",
                kari,
                meeting=MEETING_ID,
                updated=_MEETING_END,
            ),
        ],
        "evaluations": [
            Written(
                {
                    "id": "ev-m1-1-2026-01-15",
                    "goalId": "m1-1",
                    "date": "2026-01-15",
                    "attainment": "delvis",
                    "result": "78 % levert i tide (mål: 90 %).",
                    "worked": "Ukentlige planleggingsmøter og sjekkliste i skole-appen.",
                    "change": "Planlegge mer på mandager. Jonas ønsker påminnelser på mobilen.",
                    "next": "Fortsette tiltaket og legge til digital påminnelse.",
                    "responsible": [ahmed, jonas],
                    "nextReview": "2026-04-15",
                    "ownerComment": "",
                },
                kari,  # written at the meeting, by the koordinator
                _MEETING_END,
            )
        ],
    }
    # Jonas, the planeier, adds his own comment: printed as "Planeiers kommentar".
    skole_later = [
        Edit(
            jonas,
            _OWNER_COMMENT_AT,
            EVALUATIONS,
            {"id": "ev-m1-1-2026-01-15", "ownerComment": "Det hjelper å ha en fast dag med Ahmed."},
        )
    ]
    hjem = {
        "goals": [
            _goal("m2", "M2", "Jeg vil klare meg mer selv hjemme.", jonas),
            _goal("m2-1", "2.1", "Lage min egen frokost fire dager i uka", kari, "m2"),
        ],
        "measures": [
            _measure(
                "t2-1",
                "m2-1",
                "Tilrettelegging av kjøkkenet og trening med ergoterapeut",
                "Kartlegge kjøkkenet hjemme, tilpasse benkehøyde og redskaper, og trene på "
                "frokostrutiner.",
                [kari],
                "6 økter",
                "2025-10-01",
                "2025-12-01",
                "ikke_startet",
                kari,
            ),
        ],
        "evaluations": [],
    }
    fritid = {
        "goals": [
            _goal("m3", "M3", "Jeg vil holde meg i form og spille e-sport i klubb.", jonas),
            _goal("m3-1", "3.1", "Trene på treningssenteret to ganger i uka", silje, "m3"),
            _goal("m3-2", "3.2", "Bli med i e-sportklubben", line, "m3"),
        ],
        "measures": [
            _measure(
                "t3-1",
                "m3-1",
                "Individuelt treningsprogram",
                "Program laget av fysioterapeut, med oppfølging én gang i måneden.",
                [silje],
                "Oppfølging hver måned",
                "2025-09-01",
                "2025-10-01",
                "pagar",
                silje,
            ),
            _measure(
                "t3-2",
                "m3-2",
                "Kontakt med e-sportklubben",
                "Ta kontakt med klubben, sjekke tilgjengelighet og ha støttekontakt med de "
                "tre første gangene.",
                [line, kari],
                "Støttekontakt de tre første gangene",
                "2025-09-01",
                "2025-10-15",
                "fullfort",
                line,
            ),
        ],
        "evaluations": [],
    }
    helse = {
        "goals": [
            _goal("m4", "M4", "Jeg vil vite hva som skjer når jeg blir 18.", jonas),
            _goal("m4-1", "4.1", "Overgangsplan til voksentjenester", maria, "m4"),
        ],
        "measures": [
            _measure(
                "t4-1",
                "m4-1",
                "Overføringsmøte HABU – voksenhabilitering og informasjonsmøte med NAV",
                "HABU og voksenhabiliteringen møtes med Jonas og foreldrene; NAV informerer "
                "om rettigheter og arbeidsrettede tiltak etter fylte 18.",
                [maria, tor],
                "To møter",
                "2026-03-01",
                "2026-06-01",
                "planlagt",
                maria,
            ),
        ],
        "evaluations": [],
    }
    return {
        "skole": _Area(skole, skole_later),
        "hjem": _Area(hjem),
        "fritid": _Area(fritid),
        "helse": _Area(helse),
    }


def _content(u: Mapping[str, str]) -> dict[str, Any]:
    return {
        "meta": {
            "planPeriodStart": PLAN["plan_period_start"],
            "planPeriodEnd": PLAN["plan_period_end"],
            "nextRevision": PLAN["next_revision"],
            "status": PLAN["status"],
        },
        "aboutMe": _rich(
            "Jeg heter Jonas og er 16 år. Jeg går vg1 IKT på Eksempelvik vgs.",
            "Jeg har cerebral parese. Korte strekninger går jeg med krykker, ute bruker jeg "
            "rullestol. Jeg har også epilepsi, som er godt regulert, og ADHD.",
            "Jeg vil klare mer selv og vite hva som skjer når jeg blir 18.",
        ),
        "resources": _rich(
            "Jeg er god med data og e-sport, har gode venner i klassen, og familien stiller opp."
        ),
        "needs": _rich(
            (
                "bullet",
                [
                    "Hjelp til å planlegge skoledagen (ADHD)",
                    "Fysisk trening for å holde på bevegeligheten",
                    "Tilrettelagt transport",
                    "Bli mer selvstendig fra mamma og pappa",
                ],
            )
        ),
        "collaboration": [
            {
                "id": "samarbeid-fastlege",
                "name": "Dr. Per Lund",
                "role": "Fastlege",
                "organisation": "Eksempelvik legesenter",
                "purpose": "Medisinsk koordinering",
            },
            {
                "id": "samarbeid-hjelpemiddelsentral",
                "name": "NAV Hjelpemiddelsentral",
                "role": "Hjelpemidler",
                "organisation": "NAV",
                "purpose": "Elektrisk rullestol og andre hjelpemidler",
            },
        ],
        "otherPlans": [
            {
                "id": "plan-iop",
                "kind": "IOP",
                "title": "Individuell opplæringsplan vg1 IKT",
                "holder": "Eksempelvik vgs.",
                "link": None,
            },
            {
                "id": "plan-trening",
                "kind": "treningsprogram",
                "title": "Individuelt treningsprogram",
                "holder": "Kommunal fysioterapitjeneste",
                "link": None,
            },
            {
                "id": "plan-habu",
                "kind": "behandlingsplan",
                "title": "Behandlingsplan HABU",
                "holder": "HABU, Eksempel HF",
                "link": None,
            },
        ],
    }


def _comments(u: Mapping[str, str]) -> dict[str, Any]:
    def note(
        cid: str, anchor: str, who: str, text: str, at: str, resolved: bool = False
    ) -> dict[str, Any]:
        return {
            "id": cid,
            "anchorId": anchor,
            "authorId": u[who],
            "authorName": who,
            "text": text,
            "createdAt": at,
            "resolved": resolved,
        }

    def message(mid: str, who: str, text: str, at: str) -> dict[str, Any]:
        return {"id": mid, "authorId": u[who], "authorName": who, "text": text, "createdAt": at}

    return {
        "comments": [
            note(
                "kommentar-1",
                "t1-2",
                "Line Berg",
                "Har dere hørt noe fra NAV Hjelpemiddelsentral om rullestolen?",
                "2025-12-02T18:12:00Z",
            ),
            note(
                "kommentar-2",
                "t1-2",
                "Kari Nilsen",
                "Søknaden er fortsatt til behandling. Jeg purrer innen 1. februar.",
                "2026-01-15T14:10:00Z",
            ),
            note(
                "kommentar-3",
                "m3-2",
                "Jonas Berg",
                "E-sportklubben er kjempebra! 🎮",
                "2025-10-20T16:45:00Z",
                resolved=True,
            ),
            note(
                "kommentar-4",
                "t3-1",
                "Silje Haugen",
                "Jonas er sliten etter treningsdagene. Vi flytter øktene til tirsdag og fredag.",
                "2026-01-16T09:30:00Z",
            ),
        ],
        "messages": [
            message(
                "melding-1",
                "Kari Nilsen",
                "Velkommen til planen! Neste ansvarsgruppemøte er 15. januar kl. 14.00 på "
                "rom 204, Eksempelvik vgs., eller på video.",
                "2025-12-10T08:00:00Z",
            ),
            message(
                "melding-2",
                "Dr. Maria Olsen",
                "Jeg får ikke kommet 15. januar. Jeg sender en skriftlig oppdatering til Kari.",
                "2026-01-12T11:20:00Z",
            ),
            message(
                "melding-3",
                "Jonas Berg",
                "Referatet ser bra ut. Godkjent fra meg 👍",
                "2026-01-17T19:05:00Z",
            ),
        ],
    }


def _minutes(u: Mapping[str, str]) -> dict[str, Any]:
    def present(
        aid: str, who: str, role: str, here: bool = True, apology: bool = False, note: str = ""
    ) -> dict[str, Any]:
        return {
            "id": aid,
            "userId": u[who],
            "name": who,
            "role": role,
            "present": here,
            "apology": apology,
            "note": note,
        }

    def sak(number: int, title: str, body: str, decision: str) -> dict[str, Any]:
        return {
            "id": f"sak-{number}",
            "title": f"Sak {number} – {title}",
            "body": _rich(body),
            "decision": decision,
        }

    def action(
        aid: str,
        agenda: str,
        what: str,
        who: str,
        due: str | None,
        area: str,
        goal: str,
        measure: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id": aid,
            "agendaId": agenda,
            "what": what,
            "responsibleUserId": u[who],
            "due": due,
            "areaId": area,
            "goalId": goal,
            "measureId": measure,
        }

    return {
        "meeting": {
            "meetingId": MEETING_ID,
            "nextMeeting": "2026-04-15T14:00",
            "referentUserId": u["Kari Nilsen"],
        },
        "attendees": [
            present("deltaker-1", "Jonas Berg", "Planeier"),
            present("deltaker-2", "Line Berg", "Mor / foresatt"),
            present("deltaker-3", "Kari Nilsen", "Koordinator, referent"),
            present("deltaker-4", "Ahmed Rahimi", "Kontaktlærer"),
            present("deltaker-5", "Silje Haugen", "Fysioterapeut"),
            present("deltaker-6", "Tor Eriksen", "Rådgiver, NAV"),
            present(
                "deltaker-7",
                "Dr. Maria Olsen",
                "Lege, HABU",
                here=False,
                apology=True,
                note="Meldt forfall. Sendte skriftlig oppdatering.",
            ),
        ],
        "agenda": [
            sak(
                1,
                "Jonas' situasjon",
                "Jonas forteller at skolen går bedre, og at han trives i e-sportklubben. Han er "
                "sliten etter treningsdagene.",
                "Tas til orientering.",
            ),
            sak(
                2,
                "Evaluering av M1",
                "Delmål 1.1 er delvis nådd: 78 % av innleveringene kom i tide (mål: 90 %). Se "
                "evalueringen.",
                "Tiltaket fortsetter, og det legges til påminnelser på "
                "mobilen. Ansvarlig: Ahmed og Jonas.",
            ),
            sak(
                3,
                "Elektrisk rullestol",
                "Søknaden er fortsatt til behandling hos NAV Hjelpemiddelsentral.",
                "Koordinator purrer innen 01.02.2026.",
            ),
            sak(
                4,
                "Trening",
                "Treningsøktene kolliderer med prøver. Øktene flyttes til tirsdag og fredag.",
                "Silje flytter øktene innen 22.01.2026.",
            ),
            sak(
                5,
                "Overgang til 18 år",
                "HABU anbefaler (skriftlig) at overføringen starter i vår.",
                "Koordinator bestiller møte med HABU og voksenhabiliteringen i mars.",
            ),
        ],
        "actionItems": [
            action(
                "oppgave-1",
                "sak-2",
                "Legge inn digital påminnelse på mobilen",
                "Ahmed Rahimi",
                None,
                "skole",
                "m1-1",
                measure="t1-3",
            ),
            action(
                "oppgave-2",
                "sak-3",
                "Purre på søknaden om elektrisk rullestol hos NAV Hjelpemiddelsentral",
                "Kari Nilsen",
                "2026-02-01",
                "skole",
                "m1-2",
            ),
            action(
                "oppgave-3",
                "sak-4",
                "Flytte treningsøktene til tirsdag og fredag",
                "Silje Haugen",
                "2026-01-22",
                "fritid",
                "m3-1",
            ),
            action(
                "oppgave-4",
                "sak-5",
                "Bestille møte med HABU og voksenhabiliteringen i mars",
                "Kari Nilsen",
                None,
                "helse",
                "m4-1",
            ),
        ],
    }


def zone_data(user_ids_by_email: Mapping[str, int]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every zone in `read_zone` form, so tests can compare what the documents hold."""
    missing = [m.email for m in MEMBERS if m.email not in user_ids_by_email]
    if missing:
        raise KeyError(f"no user id for demo members {missing}")
    # The contract stores user ids as strings; look them up by name to keep the data readable.
    u = {m.name: str(user_ids_by_email[m.email]) for m in MEMBERS}
    zones: dict[tuple[str, str], dict[str, Any]] = {(CONTENT, ""): _content(u)}
    zones.update({(AREA, key): _final(area) for key, area in _areas(u).items()})
    zones[(COMMENTS, "")] = _comments(u)
    zones[(MINUTES, MEETING_ID)] = _minutes(u)
    return zones


def _edits(area: _Area) -> list[Edit]:
    """The area as changes in time order: each item created by whoever wrote it (items of one
    list in their list order), then the later changes."""
    created = [
        Edit(w.by, w.at, root, w.item, created=True)
        for root, written in area.lists.items()
        for w in written
    ]
    return sorted([*created, *area.later], key=lambda e: e.at)  # stable: list order kept


def _final(area: _Area) -> dict[str, Any]:
    data = {root: [dict(w.item) for w in written] for root, written in area.lists.items()}
    for edit in area.later:
        for item in data[edit.root]:
            if item["id"] == edit.fields["id"]:
                item.update(edit.fields)
    return data


def area_history(
    user_ids_by_email: Mapping[str, int],
) -> dict[str, list[tuple[int, datetime, bytes]]]:
    """Each area (by key) as its made-up history: (user id, when, Yjs update) oldest first,
    each update one member's change, so the server's records say who wrote what."""
    zone_data(user_ids_by_email)  # the same check for missing members
    u = {m.name: str(user_ids_by_email[m.email]) for m in MEMBERS}
    history: dict[str, list[tuple[int, datetime, bytes]]] = {}
    for key, area in _areas(u).items():
        doc = schema.new_zone_doc(AREA)
        steps = []
        for edit in _edits(area):
            before = doc.get_state()
            root = schema.get_root(doc, AREA, edit.root)
            if edit.created:
                schema.append_item(root, edit.fields)
            else:
                item = schema.find_item(root, edit.fields["id"])
                if item is None:
                    raise KeyError(f"demo edit of a missing item {edit.fields['id']}")
                schema.set_fields(item, {k: v for k, v in edit.fields.items() if k != "id"})
            at = datetime.fromisoformat(edit.at.replace("Z", "+00:00"))
            steps.append((int(edit.by), at, doc.get_update(before)))
        history[key] = steps
    return history


def build_zone_docs(user_ids_by_email: Mapping[str, int]) -> dict[tuple[str, str], bytes]:
    """Each zone's full update: areas as their history leaves them, the others as written."""
    docs: dict[tuple[str, str], bytes] = {}
    areas = area_history(user_ids_by_email)
    for (kind, key), data in zone_data(user_ids_by_email).items():
        doc = schema.new_zone_doc(kind)
        if kind == AREA:
            for _, _, update in areas[key]:
                doc.apply_update(update)
        else:
            schema.write_zone(doc, kind, data)
        docs[(kind, key)] = doc.get_update()
    return docs
