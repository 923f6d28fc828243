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
    # Read-only and set-based for the KE (issue 14): the last and next meeting of every plan
    # of a municipality inside the one facts query, and who is invited to a meeting per
    # (plan, user) for the log control; MeetingRepo's per-plan calls would be thousands.
    "plan_facts.py": {"_facts_query"},
    "ke_log.py": {"reasons"},
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


# A note before a meeting (issue 13) refers to a meeting but is the person's, with readers of
# its own: one owner, MeetingNotesRepo (storage/repositories/meeting_notes.py), and nothing
# else, the export and purge included (notes are not exported; ON DELETE CASCADE from
# `meetings` takes them with the plan).
NOTE_MODELS = {"MeetingNote"}


def test_only_meeting_notes_repo_touches_the_notes_table() -> None:
    offenders = {}
    for path in sorted((ROOT / "storage" / "repositories").glob("*.py")):
        if path.name == "meeting_notes.py":
            continue
        users = _functions_using(ast.parse(path.read_text(), str(path)), NOTE_MODELS)
        if users:
            offenders[path.name] = sorted(users)
    assert offenders == {}
    notes_repo = ROOT / "storage" / "repositories" / "meeting_notes.py"
    assert _functions_using(ast.parse(notes_repo.read_text()), MEETING_MODELS) == set()


def test_the_meeting_scan_sees_a_query() -> None:
    """The scan above finds a query written the usual way (so it cannot pass by seeing nothing)."""
    source = (
        "async def list_meetings(self, plan_id):\n"
        "    return await session.scalars(select(Meeting).where(Meeting.plan_id == plan_id))\n"
    )
    assert _functions_using(ast.parse(source), MEETING_MODELS) == {"list_meetings"}


# --- inside server/: a package per capability -------------------------------------------

SERVER = ROOT / "server"
# The three layers every capability stands on, and what each may use of server/.
FOUNDATIONS = {
    "core": {"core", "settings"},
    "sync": {"core", "sync", "settings", "services"},
    "web": {"core", "web", "settings", "services"},
}
# The top: wiring and entry points, free to import anything in server/.
TOP = {"app", "services", "cli"}
# Leaves at the top that import nothing of server/.
LEAVES = {"settings", "logs"}


def server_modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in SERVER.rglob("*.py")
    }


def imported_server_modules(path: Path, known: set[str]) -> set[str]:
    """The server modules `path` imports (`from server.x import y` counts `server.x.y` when
    that is a module), at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("server."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "server" or node.module.startswith("server."):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    found.add(candidate if candidate in known else node.module)
    return found - {"server"}


def area_of(module: str) -> str:
    """`server.meetings.pages` -> `meetings`; `server.app` -> `app`."""
    return module.split(".")[1]


def capabilities() -> set[str]:
    return {p.name for p in SERVER.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - set(
        FOUNDATIONS
    )


def test_server_is_a_few_packages_and_the_top() -> None:
    loose = {p.stem for p in SERVER.glob("*.py")} - {"__init__"}
    assert loose == TOP | LEAVES
    assert capabilities() >= {"auth", "plans", "meetings", "versions", "transfer", "notify"}


def test_capabilities_use_the_foundations_and_nothing_imports_a_capability() -> None:
    modules = server_modules()
    known = set(modules)
    caps = capabilities()
    offenders: dict[str, list[str]] = {}
    for name, path in modules.items():
        if name == "server":
            continue
        area = area_of(name)
        if area in TOP:
            continue
        if area in LEAVES:
            allowed: set[str] = set()
        elif area in FOUNDATIONS:
            allowed = FOUNDATIONS[area]
        else:
            assert area in caps, name
            allowed = {"core", "sync", "web", "settings", "services", area}
        bad = sorted(m for m in imported_server_modules(path, known) if area_of(m) not in allowed)
        if bad:
            offenders[name] = bad
    assert offenders == {}


def test_no_import_cycles_inside_server() -> None:
    modules = server_modules()
    known = set(modules)
    graph = {
        name: {m for m in imported_server_modules(path, known) if m in known}
        for name, path in modules.items()
    }
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend([*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt])
                return True
            if nxt not in state and visit(nxt, [*stack, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if start not in state and visit(start, [start]):
            break
    assert cycle == []


def test_only_the_sync_package_touches_the_registry_s_rooms() -> None:
    """Everyone else reads a zone with `RoomRegistry.read` and subscribes to its hooks."""
    touching = sorted(
        str(path.relative_to(ROOT))
        for path in SERVER.rglob("*.py")
        if path.parent.name != "sync" and ".rooms" in path.read_text()
    )
    assert touching == []
