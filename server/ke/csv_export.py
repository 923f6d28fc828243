"""GET /ke/{municipality_id}/overview.csv: the overview as the filter shows it, every page.

The same rows (server.ke.overview.select_rows) and the same cell texts (`cells`) as the page,
so what the KE exports is what it saw. UTF-8 with a byte-order mark and ";" between fields:
Excel in a Norwegian locale opens a file without the BOM as Windows-1252 (æøå turn into
"Ã¦Ã¸Ã¥") and splits fields on ";" (the list separator where "," is the decimal comma);
LibreOffice and Python's csv read the BOM-marked file as well. The same choice as the plan's
access log export (server/plans/access_log.py), whose formula guard it shares. A filter that
matches nothing gives the header line alone: a valid CSV, not an error.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.core.clock import today_oslo
from server.ke.access import ke_visit, municipality_id_of
from server.ke.overview import COLUMNS, Row, cells, parse_query, select_rows
from server.web.csv_lines import BOM, csv_text
from server.web.errors import BadRequest
from server.web.i18n import language_of, translator


async def ke_overview_csv(request: Request) -> Response:
    visit = await ke_visit(request, municipality_id_of(request))
    q = parse_query(request.query_params)
    selection = await select_rows(visit.services, visit.municipality, q, every_fact=True)
    visit.audit(
        request,
        "ke_overview_export",
        {"plans": selection.total, "filter": q.filter_params(), "errors": q.errors},
    )
    if q.errors:
        raise BadRequest("ke.error.filter")
    t = translator(language_of(request))
    header: list[object] = [t("ke.col." + c) for c in COLUMNS]

    def row_of(row: Row) -> list[object]:
        shown = cells(row, t)
        shown["plan"] = row.facts.plan_id  # the whole id in the file
        return [shown[c] for c in COLUMNS]

    body = (BOM + csv_text([header, *(row_of(r) for r in selection.rows or ())])).encode("utf-8")
    name = f"ke-oversikt-{visit.municipality.id}-{today_oslo().isoformat()}.csv"
    headers = {"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
