"""The account setup screen: shown on a first run, validates in plain words, saves the config."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static

from tuimail.app import TuimailApp
from tuimail.config import Config, load_config
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.setup import AccountSetupScreen


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("TUIMAIL_CONFIG", str(path))
    # No keyring here: storing the password must fail cleanly, and the config is still saved.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    return path


def _fill(screen: AccountSetupScreen, **values: str) -> None:
    for field, value in values.items():
        screen.query_one(f"#{field}", Input).value = value


def _report(screen: AccountSetupScreen) -> str:
    return str(screen.query_one("#report", Static).render())


async def test_first_run_opens_setup_and_save_writes_the_config(
    config_path: Path, tmp_path: Path
) -> None:
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False, offer_setup=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AccountSetupScreen)
        _fill(screen, name="work", address="not-an-address")
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert "Email address" in _report(screen) and "not an email address" in _report(screen)
        assert not config_path.exists()

        _fill(screen, address="alice@example.org", in_host="imap.example.org", password="pw")
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
    config = load_config(config_path)
    account = config.accounts["work"]
    assert account.address == "alice@example.org"
    assert account.incoming is not None and account.incoming.host == "imap.example.org"
    assert "pw" not in config_path.read_text()
