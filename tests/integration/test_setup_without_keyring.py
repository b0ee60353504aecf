"""First run on a machine without a keyring (SSH, headless): the setup screen offers a password
command, and the account it saves logs in to the real Dovecot and gets its mail."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from textual.widgets import Button, Input, Select, Static

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.load import load_config
from tuimail.config.schema import Config
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.setup import AccountSetupScreen
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.integration


@pytest.fixture
def no_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No keyring (keyring's fail backend, as PYTHON_KEYRING_BACKEND chooses it for a new
    process; set in this one too, since keyring caches its choice); the config file to write."""
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("TUIMAIL_CONFIG", str(path))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield path
    keyring.set_keyring(previous)


async def test_an_account_with_a_password_command_logs_in_and_gets_mail(
    mail_servers: MailServers, tmp_path: Path, no_keyring: Path
) -> None:
    user = mail_servers.add_user("nokeyring")
    mail_servers.deliver(
        user,
        b"From: a@tuimail.test\r\nTo: nokeyring@tuimail.test\r\nSubject: first mail\r\n"
        b"Message-ID: <nokeyring-1@tuimail.test>\r\n\r\nHello.\r\n",
    )
    command = "printf %s " + shlex.quote(mail_servers.users[user])
    app = TuimailApp(Config(), tmp_path / "data", offer_setup=True)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AccountSetupScreen)
        assert screen.query_one("#auth", Select).value == "command"
        for field, value in (
            ("name", "work"),
            ("address", f"{user}@tuimail.test"),
            ("in_host", mail_servers.host),
            ("in_port", str(mail_servers.imaps_port)),
            ("username", user),
            ("password_command", command),
            ("ca_file", str(mail_servers.ca_file)),
        ):
            screen.query_one(f"#{field}", Input).value = value
        report = screen.query_one("#report", Static)
        # A typed password logs in now, but Check says it could not be kept.
        screen.query_one("#auth", Select).value = "password"
        await pilot.pause()
        screen.query_one("#password", Input).value = mail_servers.users[user]
        screen.query_one("#check", Button).press()
        await wait_for(pilot, lambda: "IMAP:" in str(report.render()))
        assert str(report.render()).startswith("IMAP: ok. But there is no keyring here")

        screen.query_one("#auth", Select).value = "command"
        await pilot.pause()
        screen.query_one("#check", Button).press()
        await wait_for(pilot, lambda: str(report.render()) == "IMAP: ok")

        screen.query_one("#save", Button).press()
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        messages = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(messages.ids) == 1)
        assert messages.row_at(0).envelope.subject == "first mail"
        state = app.screen.query_one(StatusBar).entry("work")
        assert state is not None and "keyring" not in state[1]
    account = load_config(no_keyring).accounts["work"]
    assert account.password_command == command
