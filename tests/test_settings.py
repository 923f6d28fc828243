"""server/settings.py: the `SAMPLAN_*` reader that replaced pydantic-settings (issue 16) keeps
its rules: keyword arguments over the environment over `.env`, case-insensitive names, JSON
lists, yes/no words, bounds, and an error that names every wrong variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings, SettingsError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("SAMPLAN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the checkout


def test_defaults_types_and_the_order_of_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert (s.port, s.var_dir, s.smtp_starttls, s.sqlite_synchronous) == (
        8000,
        Path("var"),
        True,
        "FULL",
    )
    assert s.allowed_origins == [] and s.allowed_origins is not Settings().allowed_origins
    Path(".env").write_text(
        "# Åse Ødegård's test 😀\nexport SAMPLAN_PORT=8100\nSAMPLAN_OIDC_LABEL='ID-porten æøå'\n"
        'SAMPLAN_SMTP_FROM="Samplan <ørnes@eksempelvik.no>"\nSAMPLAN_SMTP_HOST=mail # a comment\n',
        encoding="utf-8",
    )
    s = Settings()
    assert (s.port, s.oidc_label, s.smtp_from, s.smtp_host) == (
        8100,
        "ID-porten æøå",
        "Samplan <ørnes@eksempelvik.no>",
        "mail",
    )
    monkeypatch.setenv("samplan_port", "8200")  # names are case-insensitive
    monkeypatch.setenv("SAMPLAN_SMTP_STARTTLS", "off")
    monkeypatch.setenv("SAMPLAN_TRUSTED_PROXIES", '["10.0.0.5", "10.1.0.0/16"]')
    monkeypatch.setenv("SAMPLAN_LOGIN_BACKOFF_BASE_SECONDS", "0.25")
    monkeypatch.setenv("SAMPLAN_NOT_A_SETTING", "ignored")
    s = Settings()
    assert (s.port, s.smtp_starttls, s.trusted_proxies, s.login_backoff_base_seconds) == (
        8200,
        False,
        ["10.0.0.5", "10.1.0.0/16"],
        0.25,
    )
    assert Settings(port=8300).port == 8300  # keyword arguments win
    assert s.replace(sqlite_synchronous="NORMAL").sqlite_synchronous == "NORMAL"
    assert s.replace(port=1).smtp_starttls is False


def test_every_wrong_value_is_named_and_secrets_are_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown = repr(Settings(secret_key="hemmelig-æøå", smtp_password="pass😀"))
    assert "hemmelig" not in shown and "pass😀" not in shown and "port=8000" in shown
    monkeypatch.setenv("SAMPLAN_PORT", "åtte tusen")
    monkeypatch.setenv("SAMPLAN_RETENTION_DAYS", "0")
    monkeypatch.setenv("SAMPLAN_LOG_FORMAT", "xml😀")
    monkeypatch.setenv("SAMPLAN_TRUSTED_PROXIES", "10.0.0.5")
    monkeypatch.setenv("SAMPLAN_SMTP_STARTTLS", "kanskje")
    with pytest.raises(SettingsError) as refused:
        Settings()
    message = str(refused.value)
    assert "SAMPLAN_PORT must be a whole number, got 'åtte tusen'" in message
    assert "SAMPLAN_RETENTION_DAYS must be at least 1" in message
    assert "SAMPLAN_LOG_FORMAT must be one of text, json" in message
    assert "SAMPLAN_TRUSTED_PROXIES must be a JSON list of strings" in message
    assert "SAMPLAN_SMTP_STARTTLS must be true or false" in message
    assert isinstance(refused.value, ValueError)  # `samplan` prints it and exits 2
    with pytest.raises(SettingsError, match="login_backoff_max_seconds must be greater than 0"):
        Settings(login_backoff_max_seconds=0)
    with pytest.raises(TypeError, match="no setting"):
        Settings(prot=8000)
