"""CSV lines as a Norwegian spreadsheet opens them: ";" between fields, CRLF, and no cell
that starts like a formula (a name may start with "="). Shared by every CSV export (the
plan's access log, the KE overview and its log control)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # makes Excel read the file as UTF-8 (æøå)


def csv_cell(value: object) -> str:
    """Text as a spreadsheet shows it, never as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_line(values: list[object]) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerow([csv_cell(v) for v in values])
    return out.getvalue()


def csv_text(rows: Iterable[list[object]]) -> str:
    """Many lines through one writer: a writer per line costs more than the line."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return out.getvalue()
