"""The setup screen offers OAuth2: the choice writes `auth = "oauth2"` and its table, the lookup's
OAuth2 hint preselects Google or Microsoft, and "Authorize now" runs the app's flow against a
loopback authorization server, the refresh token landing in a real gnome-keyring."""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label, Select, Static

from tests.support.autoconfig_xml import ISP_PATH
from tests.support.ca import CertificateAuthority
from tests.support.http_server import WebServer, routed_autoconfig_lookup
from tests.support.keyring_service import (
    SecretService,
    keyring_in_this_process,
    running_secret_service,
)
from tests.support.oauth_server import OAuthServer
from tuimail.app.application import TuimailApp
from tuimail.auth import secrets
from tuimail.auth.oauth import OAuthError
from tuimail.config.discovered import Autoconfig
from tuimail.config.load import load_config
from tuimail.config.schema import AccountConfig, Config
from tuimail.ui.screens.setup import AccountSetupScreen, oauth2_provider_for

# Google's ISPDB entry, in short: OAuth2 next to the password on both servers.
GMAIL_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="gmail.com">
    <domain>gmail.com</domain>
    <displayName>Google Mail</displayName>
    <incomingServer type="imap">
      <hostname>imap.gmail.com</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>OAuth2</authentication>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.gmail.com</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>OAuth2</authentication>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""
# A provider of its own that also offers OAuth2: no preset fits, so password stays chosen.
OWN_XML = GMAIL_XML.replace(b"gmail.com", b"example.com").replace(b"Google Mail", b"Example")


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("TUIMAIL_CONFIG", str(path))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    return path


@pytest.fixture
def oauth_server(test_ca: CertificateAuthority, tmp_path: Path) -> Iterator[OAuthServer]:
    with OAuthServer(test_ca, tmp_path / "oauth") as server:
        yield server


@pytest.fixture
def ca_file(test_ca: CertificateAuthority, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(test_ca.ca_pem)
    return path


def _fill(screen: AccountSetupScreen, **values: str) -> None:
    for field, value in values.items():
        screen.query_one(f"#{field}", Input).value = value


def _text(screen: AccountSetupScreen, widget_id: str) -> str:
    return str(screen.query_one(f"#{widget_id}", Static).render())


async def _settle(pilot: Pilot[int], done: Callable[[], bool]) -> None:
    """Let the screen, the app and their workers handle what was pressed, until `done()`.

    A press goes screen -> app -> worker thread -> screen; on a busy machine one pause is not
    always enough, so this waits (boundedly) for the outcome the test then asserts on.
    """
    for _ in range(600):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if done():
            return
        await pilot.pause(0.05)


def _row_shown(screen: AccountSetupScreen, widget_id: str) -> bool:
    widget = screen.query_one(f"#{widget_id}")
    row = list(screen.query_one("#form").children)
    label = row[row.index(widget) - 1]  # the form is label, widget, label, widget, ...
    assert isinstance(label, Label)
    return not widget.has_class("unused-row") and not label.has_class("unused-row")


def _fill_custom(screen: AccountSetupScreen, server: OAuthServer, ca_file: Path) -> None:
    screen.choose_sign_in("oauth2", "custom")
    _fill(
        screen,
        name="loop",
        address="alice@example.org",
        in_host="127.0.0.1",
        client_id=server.client_id,
        auth_url=f"{server.https_url}/authorize",
        token_url=f"{server.https_url}/token",
        scopes="mail offline_access",
        ca_file=str(ca_file),
    )


async def test_oauth2_with_google_writes_the_account_and_later_names_the_command(
    config_path: Path, tmp_path: Path
) -> None:
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False)
    async with app.run_test(size=(120, 60)) as pilot:
        screen = AccountSetupScreen(authorize=app.authorize_account)
        await app.push_screen(screen)
        assert _row_shown(screen, "password") and not _row_shown(screen, "client_id")

        screen.query_one("#auth", Select).value = "oauth2"  # as the user chooses it
        await pilot.pause()
        assert not _row_shown(screen, "password") and screen.query_one("#password").disabled
        assert _row_shown(screen, "client_id") and _row_shown(screen, "oauth_provider")
        assert not _row_shown(screen, "tenant") and not _row_shown(screen, "auth_url")
        _fill(
            screen,
            name="gmail",
            address="alice@gmail.com",
            in_host="imap.gmail.com",
            out_host="smtp.gmail.com",
            client_id="1234.apps.googleusercontent.com",
            client_secret="GOCSPX-not-secret",
            password="typed before switching",
        )
        screen.query_one("#save", Button).press()
        await _settle(pilot, lambda: screen.saved is not None)
        assert app.screen is screen  # it stays, to authorize the account
        assert "saved" in _text(screen, "report")
        assert screen.query_one("#authorize_bar").has_class("offered")

        screen.query_one("#later", Button).press()
        await pilot.pause()
        assert "tuimail accounts authorize gmail" in _text(screen, "report")
    text = config_path.read_text()
    assert "typed before switching" not in text
    account = load_config(config_path).accounts["gmail"]
    assert account.auth == "oauth2" and account.oauth2 is not None
    assert account.oauth2.provider == "google"
    assert account.oauth2.client_id == "1234.apps.googleusercontent.com"
    assert account.oauth2.client_secret == "GOCSPX-not-secret"
    assert account.oauth2.flow == "browser"
    assert account.incoming is not None and account.incoming.auth == "oauth2"
    assert account.smtp is not None and account.smtp.auth == "oauth2"


async def test_microsoft_shows_the_tenant_and_writes_it(config_path: Path, tmp_path: Path) -> None:
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False)
    async with app.run_test(size=(120, 60)) as pilot:
        screen = AccountSetupScreen()
        await app.push_screen(screen)
        screen.choose_sign_in("oauth2", "microsoft")
        await pilot.pause()
        assert _row_shown(screen, "tenant") and not _row_shown(screen, "token_url")
        assert screen.query_one("#tenant", Input).value == "common"
        _fill(screen, name="o365", address="bob@contoso.com", in_host="outlook.office365.com")
        _fill(screen, client_id="abcd-ef", tenant="organizations")
        screen.query_one("#oauth_flow", Select).value = "device"
        screen.query_one("#save", Button).press()
        await _settle(pilot, lambda: screen.saved is not None)
    oauth2 = load_config(config_path).accounts["o365"].oauth2
    assert oauth2 is not None
    assert (oauth2.provider, oauth2.tenant, oauth2.flow) == ("microsoft", "organizations", "device")


async def test_other_provider_problems_are_shown_naming_the_field(
    config_path: Path, tmp_path: Path
) -> None:
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False)
    async with app.run_test(size=(120, 60)) as pilot:
        screen = AccountSetupScreen()
        await app.push_screen(screen)
        screen.choose_sign_in("oauth2", "custom")
        await pilot.pause()
        assert _row_shown(screen, "auth_url") and _row_shown(screen, "scopes")
        _fill(screen, name="own", address="carol@example.org", in_host="imap.example.org")
        _fill(screen, client_id="cid", token_url="https://id.example.org/token", scopes="mail")
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert "Authorization URL" in _text(screen, "report")
        assert "required" in _text(screen, "report")

        _fill(screen, auth_url="http://id.example.org/authorize")  # plain http, not loopback
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert "Authorization URL" in _text(screen, "report")
        assert "https://" in _text(screen, "report")

        _fill(screen, auth_url="https://id.example.org/authorize", client_id="")
        screen.query_one("#save", Button).press()
        await pilot.pause()
        assert "Client id" in _text(screen, "report")
    assert not config_path.exists()


@pytest.fixture
def autoconfig_server(tmp_path: Path) -> Iterator[tuple[WebServer, Callable[..., Autoconfig]]]:
    """The providers' autoconfig hosts on loopback, and a lookup routed there."""
    with routed_autoconfig_lookup(
        tmp_path, "autoconfig.gmail.com", "autoconfig.example.com"
    ) as served:
        yield served


async def test_the_lookups_oauth2_hint_preselects_the_provider(
    config_path: Path,
    tmp_path: Path,
    autoconfig_server: tuple[WebServer, Callable[..., Autoconfig]],
) -> None:
    server, routed = autoconfig_server
    server.serve("autoconfig.gmail.com", ISP_PATH, GMAIL_XML)
    server.serve("autoconfig.example.com", ISP_PATH, OWN_XML)
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False)
    async with app.run_test(size=(120, 60)) as pilot:
        screen = AccountSetupScreen(lookup=routed)
        await app.push_screen(screen)
        _fill(screen, address="dave@example.com")
        screen.query_one("#find", Button).press()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one("#in_host", Input).value == "imap.example.com"
        assert not screen.uses_oauth2  # no preset for this provider: password stays

        _fill(screen, address="alice@gmail.com")
        screen.query_one("#find", Button).press()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one("#in_host", Input).value == "imap.gmail.com"
        assert screen.uses_oauth2
        assert screen.query_one("#oauth_provider", Select).value == "google"
        assert "OAuth2 (Google" in _text(screen, "found")
        assert not _row_shown(screen, "password") and _row_shown(screen, "client_id")


def test_the_preset_is_chosen_by_mail_host() -> None:
    assert oauth2_provider_for("imap.gmail.com") == "google"
    assert oauth2_provider_for("SMTP.GMAIL.COM.") == "google"
    assert oauth2_provider_for("outlook.office365.com") == "microsoft"
    assert oauth2_provider_for("smtp-mail.outlook.com") == "microsoft"
    assert oauth2_provider_for("imap.example.com") is None
    assert oauth2_provider_for("notgmail.com") is None  # a suffix only at a dot


# --- authorizing from the screen


@pytest.fixture(scope="module")
def secret_service() -> Iterator[SecretService]:
    with running_secret_service() as service:
        yield service


@pytest.fixture
def keyring_here(secret_service: SecretService) -> Iterator[SecretService]:
    """This process's keyring is the test Secret Service."""
    with keyring_in_this_process(secret_service, forget=("loop/oauth",)):
        yield secret_service


@pytest.fixture
def keyring_config(
    keyring_here: SecretService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("TUIMAIL_CONFIG", str(path))
    return path


class Browser:
    """The user's browser: opens the authorization URL and follows the redirect to loopback."""

    def __init__(self, ca_file: Path) -> None:
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.opened: list[str] = []

    def open(self, url: str) -> bool:
        self.opened.append(url)
        with urllib.request.urlopen(url, context=self.context, timeout=10) as answer:  # noqa: S310
            assert b"You can close this window" in answer.read()
        return True


@pytest.mark.integration
async def test_authorize_now_stores_the_refresh_token_in_the_keyring(
    keyring_config: Path, tmp_path: Path, oauth_server: OAuthServer, ca_file: Path
) -> None:
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False)
    browser = Browser(ca_file)
    app.browser_opener = browser.open
    async with app.run_test(size=(120, 60)) as pilot:
        screen = AccountSetupScreen(authorize=app.authorize_account)
        await app.push_screen(screen)
        _fill_custom(screen, oauth_server, ca_file)
        screen.query_one("#save", Button).press()
        await _settle(pilot, lambda: screen.saved is not None)
        screen.query_one("#authorize", Button).press()
        await _settle(pilot, lambda: "uthorized" in _text(screen, "report"))
        assert "Authorized: the refresh token is in the keyring" in _text(screen, "report")
        # The address was shown, to copy, and it is the one the browser opened.
        assert len(browser.opened) == 1
        assert browser.opened[0].split("?")[0] in _text(screen, "flow").replace("\n", "")
    stored = keyring.get_password(secrets.KEYRING_SERVICE, "loop/oauth")
    assert stored is not None and stored in oauth_server.refresh_tokens
    assert load_config(keyring_config).accounts["loop"].auth == "oauth2"


async def test_offline_nothing_is_contacted_and_the_command_is_named(
    config_path: Path, tmp_path: Path, oauth_server: OAuthServer, ca_file: Path
) -> None:
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False, offline=True)
    opened: list[str] = []
    app.browser_opener = lambda url: bool(opened.append(url)) or True
    async with app.run_test(size=(120, 60)) as pilot:
        screen = AccountSetupScreen(authorize=app.authorize_account)
        await app.push_screen(screen)
        _fill_custom(screen, oauth_server, ca_file)
        screen.query_one("#save", Button).press()
        await _settle(pilot, lambda: screen.saved is not None)
        screen.query_one("#authorize", Button).press()
        await _settle(pilot, lambda: "uthorized" in _text(screen, "report"))
        report = _text(screen, "report")
        assert "Offline: nothing is contacted" in report
        assert "tuimail accounts authorize loop" in report
        assert not screen.query_one("#authorize", Button).disabled  # can try again
    assert opened == [] and oauth_server.requests == []


async def test_what_the_flow_shows_reaches_the_screen_sanitized(
    config_path: Path, tmp_path: Path
) -> None:
    def hostile(account: AccountConfig, show: Callable[[str], None]) -> None:
        # A provider's error description or device page with terminal escapes in it.
        show("Open https://id.example.org/device\x1b]0;owned\x07 and enter the code \x1b[31mAB")
        raise OAuthError("access_denied: \x1b]52;c;cm0gLXJmIH4=\x07 the user said no")

    app = TuimailApp(Config(), tmp_path / "data", start_workers=False)
    async with app.run_test(size=(120, 60)) as pilot:
        screen = AccountSetupScreen(authorize=hostile)
        await app.push_screen(screen)
        screen.choose_sign_in("oauth2", "microsoft")
        _fill(screen, name="ms", address="eve@contoso.com", client_id="cid")
        screen.query_one("#incoming", Select).value = "none"
        screen.query_one("#save", Button).press()
        await _settle(pilot, lambda: screen.saved is not None)
        screen.query_one("#authorize", Button).press()
        await _settle(pilot, lambda: "uthorized" in _text(screen, "report"))
        flow, report = _text(screen, "flow"), _text(screen, "report")
    assert "enter the code AB" in flow and "\x1b" not in flow and "\x07" not in flow
    assert "the user said no" in report and "\x1b" not in report
    assert "tuimail accounts authorize ms" in report
