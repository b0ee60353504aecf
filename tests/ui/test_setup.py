"""The account setup screen: shown on a first run, validates in plain words, saves the config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from textual.widgets import Button, Input, Select, Static

from tuimail.app.application import TuimailApp
from tuimail.config.load import load_config
from tuimail.config.schema import Config
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.setup import AccountSetupScreen


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("TUIMAIL_CONFIG", str(path))
    # No keyring here (SSH, a headless machine): keyring's fail backend, as
    # PYTHON_KEYRING_BACKEND chooses it for a new process; keyring caches its choice in this
    # one, so it is set here too and put back afterwards.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield path
    keyring.set_keyring(previous)


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

        _fill(
            screen,
            address="alice@example.org",
            in_host="imap.example.org",
            password_command="pass show mail/work",
        )
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
    config = load_config(config_path)
    account = config.accounts["work"]
    assert account.address == "alice@example.org"
    assert account.incoming is not None and account.incoming.host == "imap.example.org"
    assert account.password_command == "pass show mail/work"


async def test_without_a_keyring_a_typed_password_is_refused_and_a_command_is_offered(
    config_path: Path, tmp_path: Path
) -> None:
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False, offer_setup=True)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AccountSetupScreen)
        note = str(screen.query_one("#keyring_note", Static).render())
        assert "no system keyring is available" in note and "password command" in note
        assert screen.query_one("#auth", Select).value == "command"  # chosen for the user
        assert screen.query_one("#password_command", Input).display

        # The user insists on a typed password: not saved, and told what to do instead.
        screen.query_one("#auth", Select).value = "password"
        await pilot.pause()
        _fill(
            screen, name="work", address="alice@example.org", in_host="imap.invalid",
            password="pw",
        )  # fmt: skip
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert isinstance(app.screen, AccountSetupScreen)
        assert "Not saved" in _report(screen) and "password command" in _report(screen)
        assert not config_path.exists()

        # An empty command is named too.
        screen.query_one("#auth", Select).value = "command"
        await pilot.pause()
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert "Password command" in _report(screen) and not config_path.exists()

        _fill(screen, password_command="cat ~/.config/tuimail/work.pass")
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.pause()
        # The main view no longer says to add an account: it names the one there is.
        body = str(app.screen.query_one("#view-body", Static).render())
        assert "The account 'work' is set up" in body and "Add an account" not in body
    account = load_config(config_path).accounts["work"]
    assert account.password_command == "cat ~/.config/tuimail/work.pass"
    assert "pw" not in config_path.read_text()


@pytest.mark.parametrize(
    ("ca_file", "why"),
    [
        ("/tmp/" + "a" * 300, "File name too long"),  # as a file the user may not read
        ("~no-such-user-here/ca.pem", "Could not determine home directory"),
    ],
    ids=["name-too-long", "no-such-home"],
)
async def test_a_ca_file_that_cannot_be_used_is_said_in_the_screen(
    config_path: Path, tmp_path: Path, ca_file: str, why: str
) -> None:
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False, offer_setup=True)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AccountSetupScreen)
        _fill(
            screen,
            name="work",
            address="alice@example.org",
            in_host="imap.example.org",
            password_command="pass show mail/work",
            ca_file=ca_file,
        )
        for button in ("#find", "#check", "#save"):
            screen.query_one(button, Button).press()
            for _ in range(100):  # Find settings answers from a worker thread
                await pilot.pause(0.05)
                if why in _report(screen) or not app.is_running:
                    break
            assert app.is_running and app.screen is screen
            assert "CA file" in _report(screen) and why in _report(screen), button
            screen.query_one("#report", Static).update("")
        assert not config_path.exists()
