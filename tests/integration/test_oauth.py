"""OAuth2 end to end: the flows against a loopback authorization server, the refresh token in a
real gnome-keyring, and XOAUTH2/OAUTHBEARER logins to a Dovecot + Postfix whose oauth2 passdb asks
that server about each token."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest

from tests.support.ca import CertificateAuthority
from tests.support.keyring_service import (
    SecretService,
    keyring_in_this_process,
    running_secret_service,
)
from tests.support.mailservers import MailServers, discard_server_directory, new_server_directory
from tests.support.oauth_server import OAuthServer
from tuimail.auth import credentials, oauth, secrets
from tuimail.config.load import parse_config
from tuimail.config.schema import AccountConfig
from tuimail.core.failure import FailureKind
from tuimail.core.log import base64_cores
from tuimail.core.model import Protocol
from tuimail.sync.connection import ConnectError
from tuimail.sync.imap.connect import connect_imap
from tuimail.sync.pop3.connect import connect_pop3
from tuimail.sync.smtp.connect import connect_smtp

pytestmark = pytest.mark.integration

_names = itertools.count()


@pytest.fixture(scope="module")
def oauth_server(test_ca: CertificateAuthority) -> Iterator[OAuthServer]:
    directory = new_server_directory("tuimail-oauth-")
    try:
        with OAuthServer(test_ca, directory) as server:
            yield server
    finally:
        discard_server_directory(directory)


@pytest.fixture(scope="module")
def oauth_mail(test_ca: CertificateAuthority, oauth_server: OAuthServer) -> Iterator[MailServers]:
    """Dovecot + Postfix that also accept tokens the loopback OAuth server vouches for."""
    directory = new_server_directory("tuimail-oauth-mail-")
    servers = MailServers(
        directory, ca=test_ca, oauth2_introspection_url=oauth_server.introspection_url
    )
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()
        discard_server_directory(directory)


@pytest.fixture(scope="module")
def secret_service() -> Iterator[SecretService]:
    with running_secret_service() as service:
        yield service


@pytest.fixture
def keyring_here(secret_service: SecretService) -> Iterator[SecretService]:
    """This process's keyring is the test Secret Service."""
    with keyring_in_this_process(secret_service):
        yield secret_service


@pytest.fixture
def account(
    oauth_mail: MailServers, oauth_server: OAuthServer, keyring_here: SecretService, tmp_path: Path
) -> Iterator[AccountConfig]:
    """A fresh mail user and an oauth2 account for it (a new name, so no cached token)."""
    user = oauth_mail.add_user("oauth")
    oauth_server.user = user
    oauth_server.access_lifetime = 3600
    oauth_server.access_token_bytes = 24
    name = f"oa{next(_names)}"
    text = account_toml(name, user, oauth_mail, oauth_server)
    (tmp_path / "config.toml").write_text(text)
    yield parse_config(text).accounts[name]
    with contextlib.suppress(keyring.errors.PasswordDeleteError, secrets.SecretError):
        secrets.delete_refresh_token(name)


def account_toml(name: str, user: str, mail: MailServers, server: OAuthServer) -> str:
    return f"""
[accounts.{name}]
address = "{mail.address(user)}"
auth = "oauth2"
ca_file = "{mail.ca_file}"

[accounts.{name}.oauth2]
provider = "custom"
client_id = "{server.client_id}"
auth_url = "{server.https_url}/authorize"
token_url = "{server.https_url}/token"
device_url = "{server.https_url}/device"
scopes = ["mail", "offline_access"]

[accounts.{name}.imap]
host = "{mail.host}"
port = {mail.imaps_port}
username = "{user}"

[accounts.{name}.smtp]
host = "{mail.host}"
port = {mail.submission_port}
security = "starttls"
username = "{user}"
"""


def pop3_of(account: AccountConfig, mail: MailServers) -> AccountConfig:
    """The same account's POP3 server (an account has one incoming protocol)."""
    imap = account.server(Protocol.IMAP)
    assert imap is not None
    from dataclasses import replace

    return replace(imap, protocol=Protocol.POP3, port=mail.pop3s_port, security=imap.security)  # type: ignore[return-value]


class Browser:
    """The user's browser: opens the authorization URL, trusting the test CA."""

    def __init__(self, mail: MailServers) -> None:
        self.context = mail.client_ssl_context()
        self.opened: list[str] = []

    def open(self, url: str) -> bool:
        """Follow the redirect to the loopback listener, as a browser does."""
        self.opened.append(url)
        with urllib.request.urlopen(url, context=self.context, timeout=10) as answer:  # noqa: S310
            assert b"You can close this window" in answer.read()
        return True

    def redirect_target(self, url: str) -> str:
        """Where the server sends the browser (not followed: nothing listens in paste mode)."""

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        opener = urllib.request.build_opener(
            NoRedirect, urllib.request.HTTPSHandler(context=self.context)
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open(url, timeout=10)
        assert caught.value.code == 302
        return caught.value.headers["Location"]


def ui_for(browser: Browser, answers: list[str] | None = None) -> tuple[oauth.FlowUi, list[str]]:
    shown: list[str] = []
    replies = list(answers or [])
    return oauth.FlowUi(
        open_browser=browser.open, show=shown.append, ask=lambda p: replies.pop(0)
    ), shown


def password_for(account: AccountConfig, protocol: Protocol):
    return lambda: credentials.get_password(account, protocol)


def login_everywhere(account: AccountConfig, mail: MailServers) -> None:
    """IMAP, POP3 and SMTP logins with the account's token source."""
    imap = account.server(Protocol.IMAP)
    smtp = account.server(Protocol.SMTP)
    assert imap is not None and smtp is not None
    client = connect_imap(
        imap, ca_file=account.ca_file, password=password_for(account, Protocol.IMAP)
    )
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()
    pop = connect_pop3(
        pop3_of(account, mail),
        ca_file=account.ca_file,
        password=password_for(account, Protocol.POP3),
    )
    try:
        assert pop.stat()[0] == 0
    finally:
        pop.quit()

    async def submit() -> None:
        session = await connect_smtp(
            smtp, ca_file=account.ca_file, password=password_for(account, Protocol.SMTP)
        )
        await session.quit()

    asyncio.run(submit())


# --- the flows


def test_browser_flow_stores_the_refresh_token_and_every_protocol_logs_in(
    account: AccountConfig, oauth_mail: MailServers, oauth_server: OAuthServer
) -> None:
    browser = Browser(oauth_mail)
    ui, _ = ui_for(browser)
    tokens = oauth.authorize(account, ui, flow="browser")
    # The browser was sent to our loopback listener, with PKCE, and the code was redeemed.
    assert "code_challenge_method=S256" in browser.opened[0]
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in browser.opened[0]
    assert keyring.get_password("tuimail", f"{account.name}/oauth") == tokens.refresh_token
    assert tokens.refresh_token in oauth_server.refresh_tokens
    before = oauth_server.grants("refresh_token")
    login_everywhere(account, oauth_mail)
    # The cached access token served every login: no refresh was needed.
    assert oauth_server.grants("refresh_token") == before
    # Dovecot (for IMAP, POP3, and Postfix's SASL) asked the OAuth server about the token.
    introspections = [form for path, form in oauth_server.requests if path == "/introspect"]
    assert len(introspections) >= 3
    assert {form["token"] for form in introspections} == {tokens.access_token}


def test_paste_flow(account: AccountConfig, oauth_mail: MailServers) -> None:
    browser = Browser(oauth_mail)
    pasted: list[str] = []

    def show(text: str) -> None:
        url = next(line for line in text.splitlines() if line.startswith("https://"))
        pasted.append(browser.redirect_target(url))

    ui = oauth.FlowUi(open_browser=browser.open, show=show, ask=lambda prompt: pasted[0])
    tokens = oauth.authorize(account, ui, flow="paste")
    assert browser.opened == []  # nothing listens, nothing is opened
    assert pasted[0].startswith("http://127.0.0.1/?code=")
    assert secrets.get_refresh_token(account.name) == tokens.refresh_token
    login_everywhere(account, oauth_mail)


def test_paste_flow_refuses_a_redirect_with_another_state(
    account: AccountConfig, oauth_mail: MailServers
) -> None:
    browser = Browser(oauth_mail)
    pasted: list[str] = []

    def show(text: str) -> None:
        url = next(line for line in text.splitlines() if line.startswith("https://"))
        target = browser.redirect_target(url)
        pasted.append(target.replace("state=", "state=forged"))

    ui = oauth.FlowUi(open_browser=browser.open, show=show, ask=lambda prompt: pasted[0])
    with pytest.raises(oauth.OAuthError, match="state does not match"):
        oauth.authorize(account, ui, flow="paste")
    assert secrets.get_refresh_token(account.name) is None


def test_device_flow_polls_with_the_interval_and_slows_down(
    account: AccountConfig, oauth_mail: MailServers, oauth_server: OAuthServer
) -> None:
    slept: list[float] = []
    ui, shown = ui_for(Browser(oauth_mail))
    tokens = oauth.authorize(account, ui, flow="device", sleep=slept.append)
    assert "WDJB-MJHT" in shown[0] and "/device-login" in shown[0]
    # interval 1: pending, then slow_down (+5 s, RFC 8628 §3.5), then the tokens.
    assert slept == [1.0, 1.0, 6.0]
    assert secrets.get_refresh_token(account.name) == tokens.refresh_token
    login_everywhere(account, oauth_mail)


def test_a_long_token_is_sent_after_a_continuation(
    account: AccountConfig, oauth_mail: MailServers, oauth_server: OAuthServer
) -> None:
    """Tokens longer than a POP3 AUTH line (RFC 5034: 255 octets) and than an SMTP command line
    (RFC 5321: 512 octets), as Microsoft issues them: they go after the server's empty challenge.

    Postfix chops command lines at its line_length_limit (2048), so an SMTP initial response of
    this size on the AUTH line itself would arrive broken ("Invalid base64 data").
    """
    oauth_server.access_token_bytes = 3000
    tokens = oauth.authorize(account, ui_for(Browser(oauth_mail))[0], flow="browser")
    assert len(tokens.access_token) > 3000
    before = oauth_server.grants("refresh_token")
    login_everywhere(account, oauth_mail)
    assert oauth_server.grants("refresh_token") == before  # accepted the first time


# --- refresh


def test_a_token_near_its_expiry_is_refreshed_before_use(
    account: AccountConfig, oauth_mail: MailServers, oauth_server: OAuthServer
) -> None:
    oauth_server.access_lifetime = 30  # inside the one-minute margin: every use refreshes
    oauth.authorize(account, ui_for(Browser(oauth_mail))[0], flow="browser")
    login_everywhere(account, oauth_mail)
    assert oauth_server.grants("refresh_token") >= 3  # IMAP, POP3, SMTP each got a fresh one


@pytest.mark.parametrize("protocol", [Protocol.IMAP, Protocol.POP3, Protocol.SMTP])
def test_a_refused_token_is_refreshed_once_and_the_login_retried(
    account: AccountConfig, oauth_mail: MailServers, oauth_server: OAuthServer, protocol: Protocol
) -> None:
    oauth.authorize(account, ui_for(Browser(oauth_mail))[0], flow="browser")
    before = oauth_server.grants("refresh_token")
    oauth_server.expire_access_tokens()  # the cached token looks valid but the server says no
    if protocol is Protocol.IMAP:
        imap = account.server(Protocol.IMAP)
        assert imap is not None
        connect_imap(
            imap, ca_file=account.ca_file, password=password_for(account, protocol)
        ).logout()
    elif protocol is Protocol.POP3:
        connect_pop3(
            pop3_of(account, oauth_mail),
            ca_file=account.ca_file,
            password=password_for(account, protocol),
        ).quit()
    else:
        smtp = account.server(Protocol.SMTP)
        assert smtp is not None

        async def submit() -> None:
            session = await connect_smtp(
                smtp, ca_file=account.ca_file, password=password_for(account, protocol)
            )
            await session.quit()

        asyncio.run(submit())
    assert oauth_server.grants("refresh_token") == before + 1


def test_a_revoked_authorization_says_to_authorize_again(
    account: AccountConfig, oauth_mail: MailServers, oauth_server: OAuthServer
) -> None:
    oauth.authorize(account, ui_for(Browser(oauth_mail))[0], flow="browser")
    oauth_server.revoke_refresh_tokens()
    oauth_server.expire_access_tokens()
    imap = account.server(Protocol.IMAP)
    assert imap is not None
    with pytest.raises(ConnectError) as caught:
        connect_imap(imap, ca_file=account.ca_file, password=password_for(account, Protocol.IMAP))
    assert caught.value.kind is FailureKind.PASSWORD_UNAVAILABLE
    assert "authorization was revoked or expired" in caught.value.message
    assert f"tuimail accounts authorize {account.name}" in caught.value.message


def test_no_refresh_token_says_to_authorize(
    account: AccountConfig, oauth_mail: MailServers
) -> None:
    imap = account.server(Protocol.IMAP)
    assert imap is not None
    with pytest.raises(ConnectError) as caught:
        connect_imap(imap, ca_file=account.ca_file, password=password_for(account, Protocol.IMAP))
    assert caught.value.kind is FailureKind.PASSWORD_UNAVAILABLE
    assert f"run `tuimail accounts authorize {account.name}`" in caught.value.message


# --- the command line, and the log


def _tuimail(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuimail", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_authorize_and_check_leave_no_token_in_the_log(
    account: AccountConfig,
    oauth_mail: MailServers,
    oauth_server: OAuthServer,
    keyring_here: SecretService,
    tmp_path: Path,
) -> None:
    """authorize, accounts check, sync and send (with its Sent copy) under --debug --log-file:
    no access or refresh token, plain or in base64, in the log, the commands' output, or any
    file they wrote (config, store and its -wal/-shm, locks)."""
    oauth_server.device_slow_down = False
    oauth_server.device_interval = 0
    oauth_server.access_lifetime = 30  # every use refreshes: more tokens to leak, if any did
    outputs: list[str] = []
    env = {**keyring_here.env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    log_file = tmp_path / "tuimail.core.log"
    common = [
        *("--config", str(tmp_path / "config.toml"), "--data-dir", str(tmp_path / "data")),
        *("--debug", "--log-file", str(log_file)),
    ]

    def tuimail(*args: str) -> subprocess.CompletedProcess[str]:
        result = _tuimail([*common, *args], env)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    message = tmp_path / "message.eml"
    message.write_text(
        f"From: {account.address}\nTo: {account.address}\nSubject: sent with a token\n\nHello.\n"
    )
    try:
        assert (
            "WDJB-MJHT" in tuimail("accounts", "authorize", account.name, "--flow", "device").stdout
        )
        assert tuimail("accounts", "check").stdout.count(" ok") >= 2
        tuimail("sync", account.name)
        tuimail("send", "--now", "--account", account.name, str(message))
    finally:
        oauth_server.device_slow_down = True
        oauth_server.device_interval = 1
    log = log_file.read_text()
    assert "refresh" in log and "XOAUTH2" in log  # the log did record the work
    issued = [*oauth_server.access_tokens, *oauth_server.refresh_tokens]
    assert len(issued) >= 4
    written = b"".join(f.read_bytes() for f in tmp_path.rglob("*") if f.is_file())
    assert b"SQLite format 3" in written  # the store is among the files searched
    text = log + "".join(outputs)
    for token in issued:
        assert token not in text and token.encode() not in written
        for core in base64_cores(token.encode()):
            assert core not in text and core.encode() not in written
