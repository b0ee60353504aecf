"""The setup screen finds an address's settings (in a worker), fills in the form, says where
they came from, and fills in an unencrypted server only when the user chooses it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Select, Static

from tests.support.autoconfig_xml import EXAMPLE_XML, ISP_PATH, PLAIN_ONLY_XML
from tests.support.http_server import WebServer, routed_autoconfig_lookup
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.discovered import Autoconfig
from tuimail.config.load import load_config
from tuimail.config.schema import Config
from tuimail.core.model import Security
from tuimail.ui.screens.setup import AccountSetupScreen


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("TUIMAIL_CONFIG", str(path))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[WebServer, Callable[..., Autoconfig]]]:
    """The providers' autoconfig hosts on loopback, and a lookup routed there."""
    with routed_autoconfig_lookup(
        tmp_path, "autoconfig.example.com", "autoconfig.plainmail.test"
    ) as served:
        yield served


def _found_text(screen: AccountSetupScreen) -> str:
    return str(screen.query_one("#found", Static).render())


async def test_find_settings_fills_the_form_and_save_writes_it(
    config_path: Path, tmp_path: Path, served: tuple[WebServer, Callable[..., Autoconfig]]
) -> None:
    server, routed = served
    server.serve("autoconfig.example.com", ISP_PATH, EXAMPLE_XML)
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False)
    asked_with: list[Path | None] = []

    def recording(address: str, progress: Callable[[str], None], ca: Path | None) -> Autoconfig:
        asked_with.append(ca)
        return routed(address, progress, ca)

    async with app.run_test(size=(120, 50)) as pilot:
        screen = AccountSetupScreen(lookup=recording)
        await app.push_screen(screen)
        screen.query_one("#ca_file", Input).value = "~/own-ca.pem"
        screen.query_one("#address", Input).value = "alice@example.com"
        screen.query_one("#address", Input).focus()
        await pilot.press("enter")  # enter in the address field looks it up
        # The lookup runs in a worker started by the key's handler: wait for what it brings.
        await wait_for(pilot, lambda: "Found in" in _found_text(screen))
        assert asked_with == [Path("~/own-ca.pem").expanduser()]  # the form's CA file is used
        assert screen.query_one("#in_host", Input).value == "imap.example.com"
        assert screen.query_one("#in_port", Input).value == "993"
        assert screen.query_one("#in_sec", Select).value == "tls"
        assert screen.query_one("#out_host", Input).value == "smtp.example.com"
        assert screen.query_one("#out_port", Input).value == "465"
        assert screen.query_one("#username", Input).value == "alice"
        shown = _found_text(screen)
        assert "Found in the provider's autoconfig server" in shown and "Example Mail" in shown
        assert "OAuth2" in shown
        assert not screen.query_one("#use_plaintext", Button).has_class("offered")

        # The user may change what was found before saving.
        screen.query_one("#name", Input).value = "work"
        screen.query_one("#in_port", Input).value = "10993"
        screen.query_one("#ca_file", Input).value = ""  # that file does not exist
        screen.query_one("#save", Button).press()
        await pilot.pause()
    account = load_config(config_path).accounts["work"]
    assert account.incoming is not None and account.smtp is not None
    assert (account.incoming.host, account.incoming.port) == ("imap.example.com", 10993)
    assert account.incoming.username == "alice"
    assert (account.smtp.host, account.smtp.port) == ("smtp.example.com", 465)


async def test_an_unencrypted_server_is_filled_in_only_when_chosen(
    config_path: Path, tmp_path: Path, served: tuple[WebServer, Callable[..., Autoconfig]]
) -> None:
    server, routed = served
    server.serve("autoconfig.plainmail.test", ISP_PATH, PLAIN_ONLY_XML)
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False)
    async with app.run_test(size=(120, 50)) as pilot:
        screen = AccountSetupScreen(lookup=routed)
        await app.push_screen(screen)
        screen.query_one("#address", Input).value = "bob@plainmail.test"
        screen.query_one("#find", Button).press()
        await wait_for(pilot, lambda: "not chosen" in _found_text(screen))
        assert screen.query_one("#in_host", Input).value == ""
        assert "not chosen" in _found_text(screen)
        plaintext = screen.query_one("#use_plaintext", Button)
        assert plaintext.has_class("offered") and plaintext.display

        plaintext.press()
        await pilot.pause()
        assert screen.query_one("#in_host", Input).value == "mail.plainmail.test"
        assert screen.query_one("#in_sec", Select).value == Security.NONE.value
        assert "UNENCRYPTED" in _found_text(screen)
        # The config still refuses plaintext to a host that is not loopback, naming the field.
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert "loopback" in str(screen.query_one("#report", Static).render())
    assert not config_path.exists()


async def test_nothing_found_says_so_and_leaves_the_form(
    config_path: Path, tmp_path: Path, served: tuple[WebServer, Callable[..., Autoconfig]]
) -> None:
    _, routed = served
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False)
    async with app.run_test(size=(120, 50)) as pilot:
        screen = AccountSetupScreen(lookup=routed)
        await app.push_screen(screen)
        screen.query_one("#address", Input).value = "carol@nowhere.test"
        screen.query_one("#find", Button).press()
        await wait_for(pilot, lambda: "No settings were found" in _found_text(screen))
        assert screen.query_one("#in_host", Input).value == ""
