"""Page errors are raised, once, and turned into pages by one handler (server/web/errors.py,
server.app.page_error): no handler asks whether a helper gave it a value or a response.

The rule is read from the source with `ast`, so it cannot drift; each kind of error is then
checked through a real server: its status, its sentence in an alert, the signed-in user in the
header and the security headers. Older tests check the same statuses page by page, e.g.
test_web.test_another_plan_or_a_made_up_id_is_404, test_export_web.
test_only_planeier_verge_and_koordinator_print_or_download, test_lifecycle.
test_a_closed_plan_refuses_the_servers_own_writes_too, test_access_log (log-in redirect) and
test_plan_versions (400 for a bad name).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
from markupsafe import escape

from server.web.i18n import translator
from server.web.security import HEADERS
from tests.support.live import LiveServer
from tests.support.web import csrf_of, signed_in
from tests.support.world import ROLE_USERS, World

SERVER = Path(__file__).resolve().parent.parent / "server"


def _names_response(node: ast.expr) -> bool:
    """`Response`, `responses.Response`, or a tuple or union holding one."""
    if isinstance(node, ast.Name):
        return node.id == "Response"
    if isinstance(node, ast.Attribute):
        return node.attr == "Response"
    if isinstance(node, ast.Tuple):
        return any(_names_response(e) for e in node.elts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _names_response(node.left) or _names_response(node.right)
    return False


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    where = f"{path.parent.name}/{path.name}"
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        returns = fn.returns
        if isinstance(returns, ast.BinOp) and _names_response(returns):
            found.append(f"{where}:{fn.lineno} {fn.name} returns a value or a Response")
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "isinstance"
                and len(node.args) == 2
                and _names_response(node.args[1])
            ):
                found.append(f"{where}:{node.lineno} {fn.name} checks isinstance(..., Response)")
    return found


def test_no_function_in_server_checks_whether_it_got_a_response() -> None:
    """A refusal is raised (server.web.errors), never returned for the caller to check."""
    files = sorted(SERVER.rglob("*.py"))
    assert len(files) > 30  # the rule reads the real tree
    assert [o for path in files for o in _offences(path)] == []


def test_the_rule_would_catch_the_old_way(tmp_path: Path) -> None:
    old = tmp_path / "old.py"
    old.write_text(
        "async def _allowed(request) -> tuple[int, str] | Response:\n"
        "    v = await visit(request)\n"
        "    if isinstance(v, (Response, int)):\n"
        "        return v\n",
        encoding="utf-8",
    )
    assert len(_offences(old)) == 2


# --- each kind through a real server ---------------------------------------------------------


def _assert_error_page(
    response: httpx.Response, status: int, key: str, user_name: str, lang: str = "nb"
) -> None:
    assert response.status_code == status, response.text[:300]
    match = re.search(r'<p role="alert" data-testid="error-message">([^<]*)</p>', response.text)
    assert match, "the sentence is an alert"
    assert match.group(1) == str(escape(translator(lang)(key)))
    assert f"{translator(lang)('error.status')}: {status}</p>" in response.text
    assert user_name in response.text  # the header still shows who is signed in
    _assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"


def _assert_security_headers(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers[name] == value, name


async def test_404_for_a_plan_one_is_not_in(web: LiveServer, world: World) -> None:
    email, name = ROLE_USERS["deltaker"]  # Åse Ødegård
    async with signed_in(web.http, email) as http:
        response = await http.get(f"/plans/{world.other_plan_id}/versions")
        _assert_error_page(response, 404, "error.not_found", name)
        assert "Individuell plan for Åse" not in response.text
        english = await http.get(f"/plans/{world.other_plan_id}?lang=en")
        _assert_error_page(english, 404, "error.not_found", name, lang="en")


async def test_403_for_a_role_that_may_not(web: LiveServer, world: World) -> None:
    email, name = ROLE_USERS["leser"]
    async with signed_in(web.http, email) as http:
        response = await http.get(f"/plans/{world.plan_id}/print")
        _assert_error_page(response, 403, "print.forbidden", name)


async def test_409_for_a_closed_plan(web: LiveServer, world: World) -> None:
    assert await web.services.plans.set_plan_status(world.plan_id, "closed")
    email, name = ROLE_USERS["koordinator"]
    async with signed_in(web.http, email) as http:
        response = await http.get(f"/plans/{world.plan_id}/meetings/new")
        _assert_error_page(response, 409, "plan.error.closed", name)
        assert await web.services.meetings.list_for_plan(world.plan_id) == []


async def test_400_for_what_cannot_be_used(web: LiveServer, world: World) -> None:
    email, name = ROLE_USERS["planeier"]
    versions = web.services.repos.versions
    async with signed_in(web.http, email) as http:
        page = await http.get(f"/plans/{world.plan_id}/versions")
        before = await versions.list_versions(world.plan_id)
        response = await http.post(
            f"/plans/{world.plan_id}/versions",
            data={"csrf_token": csrf_of(page.text), "name": "   "},
        )
        _assert_error_page(response, 400, "versions.error.name", name)
        assert await versions.list_versions(world.plan_id) == before  # nothing was saved


async def test_303_to_log_in_and_back(web: LiveServer, world: World) -> None:
    """Not signed in: to the log-in page, which returns to the page asked for; a form's POST
    returns to the plan page the form was on (server.plans.lifecycle_pages,
    server.plans.consent)."""
    plan = f"/plans/{world.plan_id}"
    wanted = {
        ("GET", f"{plan}/versions"): f"/login?next={plan}/versions",
        ("GET", "/notifications"): "/login?next=/notifications",
        ("GET", f"{plan}/access-log"): f"/login?next={plan}/access-log",
        ("POST", f"{plan}/close"): f"/login?next={plan}",
        ("POST", f"{plan}/consent"): f"/login?next={plan}",
    }
    async with httpx.AsyncClient(base_url=web.http) as http:
        for (method, path), location in wanted.items():
            form = {"csrf_token": "æøå 🫐"} if method == "POST" else None
            response = await http.request(method, path, data=form)
            assert response.status_code == 303, path
            assert response.headers["location"] == location
            _assert_security_headers(response)
