"""GET /ke/{municipality_id}/access.csv: the log control as the filter shows it, every page.

The same rows (server.ke.log_review.review) and the same cell texts (`row_cells`) as the page,
with the whole plan id in a column of its own, through the overview CSV's writer: UTF-8 with
a byte-order mark and ";" between fields, so Excel in a Norwegian locale opens it with æøå
intact (server/ke/csv_export.py says why). A filter that matches nothing gives the header line
alone: a valid CSV, not an error. A filter that cannot be used is a 400, as on the page. The
export is an access-log row of its own (`ke_log_export`): who took which filter home.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server.core.clock import today_oslo
from server.ke.access import ke_visit, municipality_id_of
from server.ke.log_review import filter_details, parse_log_query, review, row_cells
from server.web.csv_lines import BOM, csv_text
from server.web.errors import BadRequest
from server.web.i18n import language_of, translator
from storage.repositories.ke_log_thresholds import thresholds

# (header key, cell key) in the file's order: the page's columns, the plan id split out.
COLUMNS = (
    ("ke.log.col.when", "when"),
    ("ke.log.col.who", "who"),
    ("accessLog.col.role", "role"),
    ("ke.log.col.plan", "person"),
    ("ke.log.plan", "plan_id"),
    ("ke.log.col.action", "action"),
    ("ke.log.col.flags", "flag_texts"),
)


async def ke_access_csv(request: Request) -> Response:
    visit = await ke_visit(request, municipality_id_of(request))
    q = parse_log_query(request.query_params, today_oslo())
    if q.errors:
        visit.audit(request, "ke_log_export", {"errors": q.errors})
        raise BadRequest("ke.error.filter")
    municipality_id = visit.municipality.id
    engine = visit.services.repos.engine
    found = await review(engine, municipality_id, q, await thresholds(engine, municipality_id))
    visit.audit(
        request,
        "ke_log_export",
        {"rows": len(found.rows), **filter_details(q), "truncated": found.truncated},
    )
    t = translator(language_of(request))
    header: list[object] = [t(key) for key, _cell in COLUMNS]

    def line(cells: dict[str, Any]) -> list[object]:
        return [cells[cell] for _key, cell in COLUMNS]

    rows = (line(row_cells(r, found.flags[r.id], t)) for r in found.rows)
    body = (BOM + csv_text([header, *rows])).encode("utf-8")
    name = f"ke-tilgangslogg-{municipality_id}-{today_oslo().isoformat()}.csv"
    headers = {"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
