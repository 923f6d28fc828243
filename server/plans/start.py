"""Starting a plan (issue 12): the checks and the one call that creates it, for the browser's
"Ny plan" form and `samplan plan create` alike.

`create_plan` is the function to call (the invitation work calls it too): it writes the plan,
its zones, the koordinator's membership and the content zone's first update (plan period and
first revision date, authored by the koordinator) in ONE transaction
(storage.repositories.plan_start), then an audit row. The period and revision date have one
owner, the content zone's `meta` map (crdt/schema.py), as for every plan already: SQL holds
only what access decisions need (birth date, draft, guardian).

The consent to the plan being made (regulation element h) is checked here too: who may
answer follows the person's age (server.core.access.consent_rule): under 16 the guardian,
never the person.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pycrdt import Doc, Map

from crdt.richtext import set_rich_text
from crdt.schema import (
    ABOUT_ME,
    AREA,
    CONTENT,
    GOALS,
    META,
    NEEDS,
    RESOURCES,
    append_item,
    get_root,
    new_zone_doc,
)
from crdt.summary import zone_summary
from server.core.access import ConsentRule, consent_rule
from server.core.repositories import Repositories
from storage.models import Plan, is_zone_key
from storage.repositories.audit import AuditEvent
from storage.repositories.plan_start import NewPlan

DEFAULT_MUNICIPALITY = "Eksempelvik kommune"
MAX_AREAS = 30
MAX_TITLE = 300
MAX_NAME = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Life areas offered on the form (i18n key suffix, stored title in bokmål and English):
# the areas Norwegian plans commonly use (shared/domain/sample-plan.md).
SUGGESTED_AREAS: tuple[str, ...] = (
    "bolig",
    "helse",
    "skole",
    "arbeid",
    "fritid",
    "familie",
    "okonomi",
)


class StartError(ValueError):
    """A form field that is wrong: `field` names it, `key` is the i18n message."""

    def __init__(self, field: str, key: str) -> None:
        super().__init__(key)
        self.field = field
        self.key = key


@dataclass(frozen=True, slots=True)
class PlanStart:
    """A checked request to start a plan."""

    person_name: str
    person_birth_date: date | None  # always set from the browser; the CLI may leave it out
    period_start: date | None
    period_end: date | None
    next_revision: date | None
    areas: tuple[tuple[str, str], ...]  # (key, title)
    title: str = ""
    guardian_name: str | None = None
    guardian_email: str | None = None
    municipality: str = DEFAULT_MUNICIPALITY
    # From the municipality's plan template (issue 14): each area's (hint, sub-headings),
    # aligned with `areas`, and the content sections' default text {root name: text}.
    area_extras: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sections: tuple[tuple[str, str], ...] = ()


AreaExtra = tuple[str, tuple[str, ...]]  # (hint, sub-headings) of an area from a template
TEMPLATE_SECTIONS = (ABOUT_ME, RESOURCES, NEEDS)


def parse_date(text: str) -> date | None:
    """dd.mm.åååå (what the forms ask for) or YYYY-MM-DD; None when it is neither."""
    text = text.strip()
    for pattern in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def area_key(title: str, taken: Sequence[str] | set[str]) -> str:
    """A key for an area title: lower-case a-z, digits and '-' (æ->ae, ø->o, å->a), made
    unique with -2, -3 ...; "omrade" when nothing of the title survives (an emoji alone)."""
    text = title.casefold().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    # Whatever is not a lower-case letter or digit becomes '-'; is_zone_key (the rule's one
    # owner) has the last word.
    dashed = "".join(c if c.isdigit() or c.islower() else "-" for c in text)
    base = "-".join(part for part in dashed.split("-") if part)[:50].strip("-")
    if not is_zone_key(base):
        base = "omrade"
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}-{n}"
    return key


def check_area_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise StartError("area_title", "start.error.areaTitle")
    if len(title) > MAX_TITLE:
        raise StartError("area_title", "start.error.tooLong")
    return title


def parse_start(
    form: Mapping[str, Any],
    areas: Sequence[str],
    today: date,
    extras: Sequence[AreaExtra] | None = None,
) -> PlanStart:
    """Check the whole form; every problem at once as {field: i18n key} in StartErrors.
    `extras`: each area's (hint, sub-headings) from a template, aligned with `areas`."""
    errors: dict[str, str] = {}

    def text(name: str) -> str:
        return " ".join(str(form.get(name) or "").split())

    person = text("person_name")
    if not person:
        errors["person_name"] = "start.error.personName"
    elif len(person) > MAX_NAME:
        errors["person_name"] = "start.error.tooLong"
    born = parse_date(text("birth_date"))
    if born is None:
        errors["birth_date"] = "start.error.birthDate"
    elif born > today:
        errors["birth_date"] = "start.error.birthFuture"
    elif born.year < 1900:
        errors["birth_date"] = "start.error.birthDate"
    start = parse_date(text("period_start"))
    end = parse_date(text("period_end"))
    revision = parse_date(text("next_revision"))
    if start is None:
        errors["period_start"] = "start.error.date"
    if end is None:
        errors["period_end"] = "start.error.date"
    elif start is not None and end < start:
        errors["period_end"] = "start.error.endBeforeStart"
    if revision is None:
        errors["next_revision"] = "start.error.date"
    elif start is not None and revision < start:
        errors["next_revision"] = "start.error.revisionBeforeStart"
    elif end is not None and revision > end:
        errors["next_revision"] = "start.error.revisionAfterEnd"
    chosen: list[tuple[str, str]] = []
    paired = list(
        zip(areas, extras if extras is not None else [("", ())] * len(areas), strict=True)
    )
    paired = [(a, extra) for a, extra in paired if a.strip()]
    try:
        titles = [check_area_title(a) for a, _extra in paired]
    except StartError as exc:
        errors["areas"] = exc.key
        titles = []
    if not titles and "areas" not in errors:
        errors["areas"] = "start.error.noAreas"
    if len(titles) > MAX_AREAS:
        errors["areas"] = "start.error.tooManyAreas"
    for title in titles:
        if any(title.casefold() == t.casefold() for _k, t in chosen):
            errors["areas"] = "start.error.areaTwice"
            break
        chosen.append((area_key(title, {k for k, _t in chosen}), title))
    guardian = text("guardian_name") or None
    guardian_email = text("guardian_email").lower() or None
    if guardian_email and not _EMAIL.match(guardian_email):
        errors["guardian_email"] = "start.error.email"
    elif guardian_email and not guardian:
        errors["guardian_name"] = "start.error.guardianName"
    title = text("title")
    if len(title) > MAX_TITLE:
        errors["title"] = "start.error.tooLong"
    if errors:
        raise StartErrors(errors)
    assert born and start and end and revision  # for mypy: checked above
    return PlanStart(
        person_name=person,
        person_birth_date=born,
        period_start=start,
        period_end=end,
        next_revision=revision,
        areas=tuple(chosen),
        title=title,
        guardian_name=guardian,
        guardian_email=guardian_email,
        area_extras=tuple(extra for _a, extra in paired) if extras is not None else (),
    )


class StartErrors(ValueError):
    """Every problem of a form at once: {field: i18n key}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors.values()))
        self.errors = errors


def initial_content(start: PlanStart, draft: bool) -> tuple[bytes, dict[str, Any]] | None:
    """The content zone's first update (the plan period, the first revision date and the
    status) and its summary, for the log row written with the plan; None when there is
    nothing to write (the CLI without dates, as before)."""
    dates = {
        "planPeriodStart": start.period_start,
        "planPeriodEnd": start.period_end,
        "nextRevision": start.next_revision,
    }
    if not draft and all(value is None for value in dates.values()):
        return None
    doc: Doc[Any] = new_zone_doc(CONTENT)
    meta = doc.get(META, type=Map)
    with doc.transaction():
        for key, value in dates.items():
            if value is not None:
                meta[key] = value.isoformat()
        meta["status"] = "utkast" if draft else "aktiv"
    return doc.get_update(), zone_summary(doc, CONTENT)


def paragraphs(text: str) -> list[str]:
    """A template's plain text as paragraphs: split on blank lines, each made one line."""
    blocks = text.replace("\r\n", "\n").split("\n\n")
    return [" ".join(block.split()) for block in blocks if block.strip()]


def template_content(start: PlanStart, first: bytes | None) -> tuple[bytes, dict[str, Any]] | None:
    """The template's default text for the content sections, as an update to apply after
    `first` (the dates), and the summary of both; None when the template has none."""
    sections = [(root, paragraphs(text)) for root, text in start.sections]
    sections = [(root, blocks) for root, blocks in sections if blocks]
    if not sections:
        return None
    doc: Doc[Any] = new_zone_doc(CONTENT)
    if first is not None:
        doc.apply_update(first)
    before = doc.get_state()
    with doc.transaction():
        for root, blocks in sections:
            set_rich_text(get_root(doc, CONTENT, root), blocks)
    return doc.get_update(before), zone_summary(doc, CONTENT)


def template_areas(
    start: PlanStart,
) -> tuple[dict[str, str], dict[str, tuple[bytes, dict[str, Any]]]]:
    """Each area's hint (for SQL) and its first update: one goal per default sub-heading,
    labelled M1, M2 ... across the plan's areas as the browser labels top-level goals."""
    hints: dict[str, str] = {}
    updates: dict[str, tuple[bytes, dict[str, Any]]] = {}
    label = 0
    if not start.area_extras:
        return hints, updates
    for (key, _title), (hint, subheadings) in zip(start.areas, start.area_extras, strict=True):
        if hint.strip():
            hints[key] = hint
        if not subheadings:
            continue
        doc: Doc[Any] = new_zone_doc(AREA)
        goals = get_root(doc, AREA, GOALS)
        with doc.transaction():
            for heading in subheadings:
                label += 1
                append_item(
                    goals,
                    {"parentId": None, "label": f"M{label}", "title": heading, "description": []},
                )
        updates[key] = (doc.get_update(), zone_summary(doc, AREA))
    return hints, updates


def default_title(person_name: str) -> str:
    return f"Individuell plan – {person_name}"


async def create_plan(
    repos: Repositories,
    start: PlanStart,
    *,
    koordinator_user_id: int | None,
    draft: bool = True,
    actor_user_id: int | None = None,
    actor_role: str | None = None,
    client_address: str | None = None,
) -> Plan:
    """Create the plan in one transaction, then its `plan_create` audit row (ids and counts).

    `koordinator_user_id` becomes the koordinator member (None: none yet, the CLI's
    operator case). `draft`: the plan starts as "utkast" until the consent to the plan being
    made is recorded (the browser's way); the CLI records plans an operator already has
    that consent for (on paper), so it passes False. `actor_role`: the audit row's role when
    the one starting it is not its koordinator (the KE's "ke_admin")."""
    content = initial_content(start, draft)
    update, summary = content if content is not None else (None, None)
    from_template = template_content(start, update)
    template_update = None
    if from_template is not None:
        template_update, summary = from_template
    hints, area_updates = template_areas(start)
    municipality_id = await repos.plans.get_or_create_municipality(start.municipality)
    plan = await repos.plan_start.create(
        NewPlan(
            municipality_id=municipality_id,
            title=start.title or default_title(start.person_name),
            person_name=start.person_name,
            person_birth_date=start.person_birth_date,
            areas=start.areas,
            koordinator_user_id=koordinator_user_id,
            draft=draft,
            guardian_name=start.guardian_name,
            guardian_email=start.guardian_email,
            content_update=update,
            content_summary=summary,
            template_content_update=template_update,
            area_hints=hints,
            area_updates=area_updates,
        )
    )
    await repos.audit.append(
        AuditEvent(
            "plan_create",
            actor_user_id=actor_user_id,
            role="koordinator"
            if actor_user_id == koordinator_user_id and actor_user_id
            else actor_role,
            plan_id=plan.id,
            client_address=client_address,
            details={
                "areas": len(start.areas),
                "draft": draft,
                "guardian_named": start.guardian_name is not None,
                "birth_date_set": start.person_birth_date is not None,
                **({"from_template": True} if start.area_extras or start.sections else {}),
            },
        )
    )
    return plan


# -- the consent to the plan being made ---------------------------------------------------------

GIVERS = ("planeier", "verge")
RECORDED_METHODS = ("oral", "written")  # what the koordinator records; "browser" is the giver's


@dataclass(frozen=True, slots=True)
class RecordedConsent:
    status: str  # given | refused
    giver: str  # planeier | verge
    giver_name: str
    method: str
    given_on: date


def may_answer(giver: str, birth_date: date | None, today: date) -> bool:
    """Under 16 only the guardian (verge) answers for the person; from 16 the person does,
    and an appointed guardian may too; unknown age: either (as `may_give_consent`)."""
    if giver == "verge":
        return True
    return consent_rule(birth_date, today) != ConsentRule.UNDER_16


def parse_recorded_consent(form: Mapping[str, Any], plan: Plan, today: date) -> RecordedConsent:
    """The koordinator's record of an oral or written answer; StartErrors on any problem."""
    errors: dict[str, str] = {}

    def text(name: str) -> str:
        return " ".join(str(form.get(name) or "").split())

    status = text("status")
    if status not in ("given", "refused"):
        errors["status"] = "planConsent.error.status"
    giver = text("giver")
    if giver not in GIVERS:
        errors["giver"] = "planConsent.error.giver"
    elif not may_answer(giver, plan.person_birth_date, today):
        errors["giver"] = "planConsent.error.under16"
    method = text("method")
    if method not in RECORDED_METHODS:
        errors["method"] = "planConsent.error.method"
    name = text("giver_name")
    if not name and giver == "planeier":
        name = plan.person_name
    if not name and giver == "verge":
        name = plan.guardian_name or ""
    if not name:
        errors["giver_name"] = "planConsent.error.name"
    elif len(name) > MAX_NAME:
        errors["giver_name"] = "start.error.tooLong"
    given_on = parse_date(text("given_on"))
    if given_on is None:
        errors["given_on"] = "start.error.date"
    elif given_on > today:
        errors["given_on"] = "planConsent.error.future"
    if errors:
        raise StartErrors(errors)
    assert given_on is not None
    return RecordedConsent(status, giver, name, method, given_on)


def is_area_key(key: str) -> bool:
    return is_zone_key(key)
