"""POST /ke/{municipality_id}/access/settings: the KE sets when its log control flags an
opening (issue 14): the night's Oslo hours (from-until) and "many plans in a row" (how many
different plans within how many minutes), stored per municipality
(storage/repositories/ke_log_thresholds.py; the defaults are the values once fixed in code).

Bad input loses nothing: the page comes back (400) with every field as typed, an error
summary (role="alert") that links to each wrong field, and each field marked aria-invalid
with its own message. A change is an access-log row (`ke_log_settings`) with the new numbers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.core.clock import today_oslo
from server.ke.forms import form_number, ke_form
from server.ke.log_review import LIMIT_FIELDS, access_page, parse_log_query
from storage.repositories.ke_log_thresholds import (
    BURST_MINUTES_MAX,
    BURST_PLANS_MAX,
    LogThresholds,
    set_thresholds,
)


def parse_limits(typed: dict[str, str]) -> tuple[LogThresholds | None, dict[str, str]]:
    """The thresholds, or {field: i18n key of what is wrong with it}."""
    errors: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for name in LIMIT_FIELDS:
        number = form_number(typed.get(name, ""), digits=6)
        if number is None:
            errors[name] = f"ke.log.limits.error.{name}"
        else:
            numbers[name] = number
    for name in ("night_from", "night_until"):
        if name in numbers and numbers[name] > 23:
            errors[name] = f"ke.log.limits.error.{name}"
    if "night_from" not in errors and "night_until" not in errors:
        if numbers["night_from"] == numbers["night_until"]:
            errors["night_until"] = "ke.log.limits.error.same"
    if "burst_plans" in numbers and not 2 <= numbers["burst_plans"] <= BURST_PLANS_MAX:
        errors["burst_plans"] = "ke.log.limits.error.burst_plans"
    if "burst_minutes" in numbers and not 1 <= numbers["burst_minutes"] <= BURST_MINUTES_MAX:
        errors["burst_minutes"] = "ke.log.limits.error.burst_minutes"
    if errors:  # in the form's order, so the summary reads as the fields do
        return None, {name: errors[name] for name in LIMIT_FIELDS if name in errors}
    return LogThresholds(**numbers), {}


async def ke_log_settings(request: Request) -> Response:
    visit, fields = await ke_form(request)
    typed = {name: fields.get(name, "") for name in LIMIT_FIELDS}
    limits, errors = parse_limits(typed)
    if limits is None:
        q = parse_log_query({}, today_oslo())
        extra = {"limits_errors": errors}
        return await access_page(request, visit, q, extra, typed=typed, status=400)
    engine = visit.services.repos.engine
    await set_thresholds(engine, visit.municipality.id, limits, by_user_id=visit.user.id)
    visit.audit(request, "ke_log_settings", {name: getattr(limits, name) for name in LIMIT_FIELDS})
    return RedirectResponse(f"/ke/{visit.municipality.id}/access?saved=1", status_code=303)
