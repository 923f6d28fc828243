"""DESIGN §1: `crdt` and `storage` never import each other or `server`; only `server`
imports starlette, jinja2 or uvicorn. Parsed from the source, so it cannot drift."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "crdt": {"server", "storage", "starlette", "jinja2", "uvicorn"},
    "storage": {"server", "crdt", "starlette", "jinja2", "uvicorn", "pycrdt"},
}


def imported_top_levels(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_the_right_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# The meetings tables have one owner, MeetingRepo (storage/repositories/meetings.py), so the
# rules for a meeting (ids, times, invitees, its minutes zone) live in one place. Allowed
# besides it, and why:
MEETING_MODELS = {"Meeting", "MeetingInvitee"}
MEETING_READERS_ALLOWED = {
    # The whole-plan export/import: `read` takes every table of a plan from one database
    # snapshot and `create` writes them in one transaction, which a call into MeetingRepo
    # (a session of its own) could not join; `existing_meetings` is that import's pre-check
    # and `count_rows` counts every table it writes.
    "transfer.py": None,  # any function
    # Counts (never reads) the rows of every table a plan owns, for `samplan purge` and the
    # deletion's access log entry.
    "plans.py": {"_count_owned"},
}


def _functions_using(tree: ast.AST, names: set[str]) -> set[str]:
    """The functions (by name; "<module>" outside any) that refer to one of `names`."""
    found: set[str] = set()

    def visit(node: ast.AST, inside: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inside = node.name
        if isinstance(node, ast.Name) and node.id in names:
            found.add(inside)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, "<module>")
    return found


def test_only_meeting_repo_touches_the_meetings_tables() -> None:
    offenders = {}
    for path in sorted((ROOT / "storage" / "repositories").glob("*.py")):
        if path.name == "meetings.py":
            continue
        users = _functions_using(ast.parse(path.read_text(), str(path)), MEETING_MODELS)
        allowed = MEETING_READERS_ALLOWED.get(path.name, set())
        if allowed is not None and users - allowed:
            offenders[path.name] = sorted(users - allowed)
    assert offenders == {}


def test_the_meeting_scan_sees_a_query() -> None:
    """The scan above finds a query written the usual way (so it cannot pass by seeing nothing)."""
    source = (
        "async def list_meetings(self, plan_id):\n"
        "    return await session.scalars(select(Meeting).where(Meeting.plan_id == plan_id))\n"
    )
    assert _functions_using(ast.parse(source), MEETING_MODELS) == {"list_meetings"}
