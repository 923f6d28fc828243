"""mypy strict over the three packages, in the suite so CI runs it (DESIGN §1: type hints on
public functions; the strictness is set in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes_on_server_crdt_and_storage() -> None:
    api = pytest.importorskip("mypy.api")
    out, err, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            str(ROOT / "server"),
            str(ROOT / "crdt"),
            str(ROOT / "storage"),
        ]
    )
    assert status == 0, out + err
