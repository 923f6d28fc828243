"""The `samplan` command line against a real SQLite file, and a real server process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pycrdt import Text, XmlFragment

from crdt.client import YClient
from tests.support.clients import connected
from tests.support.live import ServerProcess


def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        "SAMPLAN_VAR_DIR": str(tmp_path / "var"),
        "SAMPLAN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}",
        "SAMPLAN_SECRET_KEY": "cli-test-secret",
    }


def samplan(
    tmp_path: Path, *args: str, stdin: str = "", ok: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env={**os.environ, **cli_env(tmp_path)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def test_demo_is_idempotent_and_prints_what_a_newcomer_needs(tmp_path: Path) -> None:
    first = samplan(tmp_path, "demo").stdout
    second = samplan(tmp_path, "demo").stdout
    plan_id = re.search(r"Plan-id: (\S+)", first)
    assert plan_id and plan_id.group(1) in second
    assert "lastet inn" in first and "fantes allerede" in second
    for role in ("planeier", "verge", "koordinator", "deltaker", "leser"):
        assert re.search(rf"^{role}\s+.+@eksempelvik\.demo\s+\S+\.\S+\.\S+$", first, re.M), role
    assert "Kari Nilsen" in first and "Jonas Berg" in first
    import sqlite3

    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM plans").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM users").fetchone()[0] == len(
            re.findall(r"@eksempelvik\.demo", first)
        )
        # The demo meeting's invitees and agenda (issue 5), once however often demo runs.
        assert db.execute("SELECT count(*) FROM meeting_invitees").fetchone()[0] == 7
        (agenda,) = db.execute("SELECT agenda FROM meetings").fetchone()
        assert [item["id"] for item in json.loads(agenda)] == [f"sak-{n}" for n in range(1, 6)]


async def test_demo_plan_opens_with_a_printed_token(tmp_path: Path) -> None:
    out = samplan(tmp_path, "demo").stdout
    plan_id = re.search(r"Plan-id: (\S+)", out).group(1)  # type: ignore[union-attr]
    token = re.search(r"^koordinator\s+.+\s(\S+\.\S+\.\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
    proc = ServerProcess(cli_env(tmp_path), tmp_path).start()
    try:
        async with connected(proc.ws_url(f"plan/{plan_id}/content", token)) as client:
            about = client.doc.get("aboutMe", type=XmlFragment)
            assert "Jeg vil klare mer selv" in str(about)
            resources = client.doc.get("resources", type=XmlFragment)
            assert "e-sport" in str(resources)
        async with connected(proc.ws_url(f"plan/{plan_id}/area/skole", token)) as client:
            from crdt.schema import read_zone

            area = read_zone(client.doc, "area")
            assert any("fullføre vg1 IKT" in g["title"] for g in area["goals"])
        log = proc.output()
        assert token not in log  # neither a token nor a line quoting the socket's URL
        assert log.count("joined zone") == 2  # samplan.ws says who opened which zone
    finally:
        proc.stop()


def test_user_add_with_a_language(tmp_path: Path) -> None:
    """`--language en`: their e-mail is English from the start; a language we do not speak is
    refused by argparse (exit 2), and leaving it out leaves it unchosen (bokmål)."""
    import sqlite3

    samplan(
        tmp_path,
        "user",
        "add",
        "--email",
        "per@eksempelvik.no",
        "--name",
        "Per Lund 🌍",
        "--no-password",
        "--language",
        "en",
    )
    samplan(
        tmp_path,
        "user",
        "add",
        "--email",
        "ase@eksempelvik.no",
        "--name",
        "Åse Ødegård",
        "--no-password",
    )
    bad = samplan(
        tmp_path,
        "user",
        "add",
        "--email",
        "ola@eksempelvik.no",
        "--name",
        "Ola",
        "--no-password",
        "--language",
        "sv",
        ok=False,
    )
    assert bad.returncode == 2 and "--language" in bad.stderr and "'sv'" in bad.stderr
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        rows = dict(db.execute("SELECT email, language FROM users").fetchall())
    assert rows == {"per@eksempelvik.no": "en", "ase@eksempelvik.no": None}


async def test_user_plan_member_token_commands(tmp_path: Path) -> None:
    samplan(
        tmp_path,
        "user",
        "add",
        "--email",
        "Aase.Odegard@Eksempelvik.no",
        "--name",
        "Åse Ødegård",
        stdin="et godt passord 🔑\n",
    )
    samplan(
        tmp_path, "user", "add", "--email", "ola@eksempelvik.no", "--name", "Ola", "--no-password"
    )
    plan_id = samplan(
        tmp_path,
        "plan",
        "create",
        "--title",
        "Plan for Åse",
        "--person",
        "Åse Ødegård",
        "--area",
        "skole=Skole og læring 📚",
    ).stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", plan_id)
    samplan(
        tmp_path,
        "member",
        "add",
        "--plan",
        plan_id,
        "--email",
        "aase.odegard@eksempelvik.no",
        "--role",
        "koordinator",
    )
    token = samplan(
        tmp_path,
        "token",
        "--user",
        "aase.odegard@eksempelvik.no",
        "--plan",
        plan_id,
        "--ttl",
        "600",
    ).stdout
    assert token.count("\n") == 1 and " " not in token.strip()  # only the token

    # Clear errors, exit code 2, nothing half-done:
    bad = samplan(
        tmp_path,
        "member",
        "add",
        "--plan",
        plan_id,
        "--email",
        "finnes@ikke.no",
        "--role",
        "deltaker",
        ok=False,
    )
    assert bad.returncode == 2 and "finnes@ikke.no" in bad.stderr
    bad = samplan(tmp_path, "token", "--user", "ola@eksempelvik.no", "--plan", plan_id, ok=False)
    assert bad.returncode == 2 and "not a member" in bad.stderr
    bad = samplan(
        tmp_path,
        "user",
        "add",
        "--email",
        "aase.odegard@eksempelvik.no",
        "--name",
        "x",
        "--no-password",
        ok=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    bad = samplan(
        tmp_path, "plan", "create", "--title", "x", "--person", "y", "--area", "oops", ok=False
    )
    assert bad.returncode == 2 and "KEY=Title" in bad.stderr

    proc = ServerProcess(cli_env(tmp_path), tmp_path).start()
    try:
        url = proc.ws_url(f"plan/{plan_id}/area/skole", token.strip())
        async with connected(url) as client:
            client.doc.get("t", type=Text).insert(0, "Første mål 🎯")
        # The CLI's role change reaches the open connection of a member (the watcher).
        samplan(
            tmp_path,
            "member",
            "add",
            "--plan",
            plan_id,
            "--email",
            "ola@eksempelvik.no",
            "--role",
            "deltaker",
        )
        # A deltaker opens nothing until consent is given (issue 4).
        samplan(
            tmp_path,
            "consent",
            "give",
            "--plan",
            plan_id,
            "--email",
            "ola@eksempelvik.no",
            "--scope",
            "all",
        )
        ola = samplan(
            tmp_path, "token", "--user", "ola@eksempelvik.no", "--plan", plan_id
        ).stdout.strip()
        watcher = YClient(proc.ws_url(f"plan/{plan_id}/area/skole", ola))
        await watcher.connect()
        await watcher.wait_for(watcher.synced.is_set)
        assert str(watcher.doc.get("t", type=Text)) == "Første mål 🎯"
        samplan(tmp_path, "member", "remove", "--plan", plan_id, "--email", "ola@eksempelvik.no")
        assert await watcher.wait_closed(timeout=30) == 4403
        await watcher.close()
    finally:
        proc.stop()


@pytest.mark.parametrize(
    "args",
    [
        ["token", "--user", "x@y.no", "--plan", "nope"],
        ["member", "remove", "--plan", "nope", "--email", "x@y.no"],
    ],
)
def test_unknown_things_are_clear_errors(tmp_path: Path, args: list[str]) -> None:
    result = samplan(tmp_path, *args, ok=False)
    assert result.returncode == 2
    assert result.stderr.startswith("samplan: ")


def test_municipality_and_its_ke_administrators(tmp_path: Path) -> None:
    samplan(
        tmp_path,
        "user",
        "add",
        "--email",
        "ase@example.no",
        "--name",
        "Åse Ødegård 🌿",
        "--no-password",
    )
    municipality_id = samplan(tmp_path, "municipality", "add", "Tromsø kommune").stdout.strip()
    assert samplan(tmp_path, "municipality", "add", "Tromsø kommune").stdout.strip() == (
        municipality_id
    )
    admin = ["--municipality", "Tromsø kommune", "--email", "ase@example.no"]
    added = samplan(tmp_path, "municipality", "add-admin", *admin).stdout
    assert "is a KE administrator of Tromsø kommune" in added
    listed = samplan(tmp_path, "municipality", "list").stdout
    assert f"{municipality_id}\tTromsø kommune\tKE: ase@example.no" in listed.splitlines()

    unknown = samplan(
        tmp_path,
        "municipality",
        "add-admin",
        "--municipality",
        "Ålesund",
        "--email",
        "ase@example.no",
        ok=False,
    )
    assert unknown.returncode == 2 and "no municipality named 'Ålesund'" in unknown.stderr
    nobody = samplan(
        tmp_path,
        "municipality",
        "add-admin",
        "--municipality",
        "Tromsø kommune",
        "--email",
        "nobody@example.no",
        ok=False,
    )
    assert nobody.returncode == 2 and "no user with e-mail nobody@example.no" in nobody.stderr

    removed = samplan(tmp_path, "municipality", "remove-admin", *admin).stdout
    assert "is not a KE administrator" in removed
    assert "KE: -" in samplan(tmp_path, "municipality", "list").stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("ke_admin_add") == 1 and actions.count("ke_admin_remove") == 1
