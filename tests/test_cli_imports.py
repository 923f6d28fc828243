"""What a `samplan` command imports (issue 16): the command line starts in a fraction of a
second only while a command leaves the app's heavy parts alone. Pinned by module names in a
subprocess, never by time (the machine's load decides the time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Imported by `samplan serve`, a PDF export or a pending migration; no other command needs them.
HEAVY = ("weasyprint", "starlette", "uvicorn", "jinja2", "alembic", "server.services", "server.app")

PROBE = """
import json, sys
from server.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:  # --help
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _modules(env: dict[str, str], *argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return {m for m in report["modules"] if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}}


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SAMPLAN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}",
        "SAMPLAN_VAR_DIR": str(tmp_path / "var"),
    }


def _heavy(modules: set[str]) -> set[str]:
    return {h for h in HEAVY if h in modules}


def test_help_and_everyday_commands_leave_the_heavy_parts_alone(cli_env: dict[str, str]) -> None:
    assert _heavy(_modules(cli_env, "--help")) == set()
    # The first command on a new database migrates it: Alembic then, and only then.
    first = _modules(cli_env, "migrate")
    assert _heavy(first) == {"alembic"}
    for argv in (
        (
            "user",
            "add",
            "--email",
            "ase@eksempelvik.no",
            "--name",
            "Åse Ødegård 😀",
            "--no-password",
        ),
        ("plan", "create", "--title", "Plan for Åse 🌿", "--person", "Åse Ødegård"),
        ("municipality", "list"),
        ("migrate",),
    ):
        assert _heavy(_modules(cli_env, *argv)) == set(), argv


def test_a_pending_migration_is_still_run(cli_env: dict[str, str]) -> None:
    """The fast check says "up to date" only at the migrations' head: a database one step
    behind is migrated by the next command, as before."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config, downgrade_sync, script_heads, upgrade_sync

    url = cli_env["SAMPLAN_DATABASE_URL"]
    upgrade_sync(url)
    downgrade_sync(url, "-1")
    assert "alembic" in _modules(cli_env, "municipality", "list")
    assert _heavy(_modules(cli_env, "municipality", "list")) == set()
    # The files read without Alembic name the heads Alembic itself finds.
    alembic_heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    assert script_heads() == frozenset(alembic_heads) and len(alembic_heads) == 1


# Not even the database layer: `--help` and a wrong argument answer before any of it loads.
STORAGE_LAYER = ("sqlalchemy", "pydantic", "pycrdt", "storage.models", "server.settings")


def _loaded_after(env: dict[str, str], *argv: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def test_help_and_argument_errors_import_no_sqlalchemy(cli_env: dict[str, str]) -> None:
    code, modules = _loaded_after(cli_env, "--help")
    assert code == 0 and "argparse" in modules
    assert {m for m in STORAGE_LAYER if m in modules} == set()
    # A wrong argument (an unknown role for Åse) is refused by argparse alone: exit 2.
    code, modules = _loaded_after(
        cli_env, "member", "add", "--plan", "p", "--email", "åse@ørnes.no", "--role", "sjef😀"
    )
    assert code == 2
    assert {m for m in STORAGE_LAYER if m in modules} == set()
    # A command that touches the database still loads it, lazily.
    code, modules = _loaded_after(cli_env, "municipality", "add", "Ørnes kommune 🌿")
    assert code == 0 and {"sqlalchemy", "storage.models", "server.settings"} <= modules
    assert "pydantic" not in modules
