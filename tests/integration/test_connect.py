"""The connect helpers against the real Dovecot and Postfix: every protocol, every security mode.

Every failure must stop before any credential is asked for or sent: the password source is a spy,
and where a fault proxy sits in between, its recording shows what the client sent.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.credentials import PasswordSpy, assert_no_credentials_sent
from tests.support.mailservers import MailServers
from tests.support.proxy import FaultProxy, Faults, hide_capability
from tuimail.auth.secrets import SecretError
from tuimail.config.schema import ServerConfig
from tuimail.core.failure import FailureKind
from tuimail.core.log import base64_cores
from tuimail.core.model import Protocol, Security
from tuimail.sync.connection import ConnectError
from tuimail.sync.imap.connect import connect_imap
from tuimail.sync.pop3.connect import connect_pop3
from tuimail.sync.smtp.connect import connect_smtp

pytestmark = pytest.mark.integration

USER = "alice"
TIMEOUT = 10.0
PORT_ATTRIBUTE = {
    (Protocol.IMAP, Security.TLS): "imaps_port",
    (Protocol.IMAP, Security.STARTTLS): "imap_port",
    (Protocol.POP3, Security.TLS): "pop3s_port",
    (Protocol.POP3, Security.STARTTLS): "pop3_port",
    (Protocol.SMTP, Security.TLS): "smtps_port",
    (Protocol.SMTP, Security.STARTTLS): "submission_port",
}
MODES = list(PORT_ATTRIBUTE)
MODE_IDS = [f"{protocol.value}-{security.value}" for protocol, security in MODES]
UPGRADE_COMMAND = {Protocol.IMAP: "STARTTLS", Protocol.POP3: "STLS", Protocol.SMTP: "STARTTLS"}


def server_config(
    protocol: Protocol, security: Security, host: str, port: int, username: str = USER
) -> ServerConfig:
    return ServerConfig(
        protocol=protocol, host=host, port=port, security=security, username=username
    )


def port_of(servers: MailServers, protocol: Protocol, security: Security) -> int:
    return getattr(servers, PORT_ATTRIBUTE[protocol, security])


def log_in_and_probe(
    server: ServerConfig,
    *,
    ca_file: Path | None,
    password: Callable[[], str],
    timeout: float = TIMEOUT,
) -> str:
    """Connect with the helper, prove the session works, end it; returns the TLS version used.

    Raises ConnectError as the helpers do. The empty string means the session was not encrypted.
    """
    options = {"ca_file": ca_file, "password": password, "timeout": timeout}
    if server.protocol is Protocol.IMAP:
        client = connect_imap(server, **options)
        try:
            # SELECT is refused before login: this proves the session is authenticated.
            assert b"EXISTS" in client.select_folder("INBOX", readonly=True)
            # The post-TLS capability list: before TLS, Dovecot says LOGINDISABLED.
            assert b"LOGINDISABLED" not in client.capabilities()
            sock = client.socket()
            return sock.version() if isinstance(sock, ssl.SSLSocket) else ""
        finally:
            client.logout()
    if server.protocol is Protocol.POP3:
        pop = connect_pop3(server, **options)
        try:
            count, size = pop.stat()  # only allowed in the TRANSACTION state, after login
            assert count >= 0 and size >= 0
            sock = pop.sock
            return sock.version() if isinstance(sock, ssl.SSLSocket) else ""
        finally:
            pop.quit()

    async def smtp_session() -> str:
        smtp = await connect_smtp(server, **options)
        try:
            # Postfix accepts a sender here only from an authenticated client.
            response = await smtp.mail(f"{USER}@example.org")
            assert response.code == 250
            ssl_object = smtp.get_transport_info("ssl_object")
            return ssl_object.version() if ssl_object is not None else ""
        finally:
            await smtp.quit()

    return asyncio.run(smtp_session())


def expect_failure(
    server: ServerConfig, *, ca_file: Path | None, password: Callable[[], str], timeout: float
) -> ConnectError:
    with pytest.raises(ConnectError) as caught:
        log_in_and_probe(server, ca_file=ca_file, password=password, timeout=timeout)
    error = caught.value
    assert (error.protocol, error.host, error.port) == (server.protocol, server.host, server.port)
    assert error.message.isprintable()
    return error


# --- success


@pytest.mark.parametrize(("protocol", "security"), MODES, ids=MODE_IDS)
def test_login_with_the_test_ca(
    mail_servers: MailServers, protocol: Protocol, security: Security
) -> None:
    spy = PasswordSpy(mail_servers.users[USER])
    server = server_config(
        protocol, security, mail_servers.host, port_of(mail_servers, protocol, security)
    )
    version = log_in_and_probe(server, ca_file=mail_servers.ca_file, password=spy)
    assert version in ("TLSv1.2", "TLSv1.3")
    assert spy.calls == 1


@pytest.mark.parametrize("protocol", list(Protocol))
def test_security_none_logs_in_on_a_loopback_server_without_tls(
    mail_servers: MailServers, protocol: Protocol
) -> None:
    spy = PasswordSpy(mail_servers.users[USER])
    server = server_config(
        protocol,
        Security.NONE,
        mail_servers.plain_host,
        port_of(mail_servers, protocol, Security.STARTTLS),
    )
    assert log_in_and_probe(server, ca_file=None, password=spy) == ""
    assert spy.calls == 1


# --- certificate failures: each stops before the password is asked for or sent


def expired_on(mail_servers: MailServers) -> str:
    from cryptography import x509

    pem = mail_servers.dovecot.tls.expired.cert.read_bytes()  # type: ignore[union-attr]
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc.date().isoformat()


@pytest.mark.parametrize(("protocol", "security"), MODES, ids=MODE_IDS)
@pytest.mark.parametrize("fault", ["untrusted", "expired", "wrong_host"])
def test_certificate_failures_stop_before_credentials(
    mail_servers: MailServers,
    fault_proxy: Callable[..., FaultProxy],
    protocol: Protocol,
    security: Security,
    fault: str,
) -> None:
    port = port_of(mail_servers, protocol, security)
    spy = PasswordSpy(mail_servers.users[USER])
    ca_file = None if fault == "untrusted" else mail_servers.ca_file
    proxy: FaultProxy | None = None
    if fault == "expired":
        # Straight to the expired host: its certificate names 127.0.0.3, not the proxy's address
        # (and a wrong name is reported before an expired date).
        server = server_config(protocol, security, mail_servers.expired_host, port)
    else:
        target = mail_servers.host if fault == "untrusted" else mail_servers.wrong_host
        proxy = fault_proxy(target, port)
        server = server_config(protocol, security, proxy.host, proxy.port)

    error = expect_failure(server, ca_file=ca_file, password=spy, timeout=TIMEOUT)

    if fault == "untrusted":
        assert error.kind is FailureKind.TLS_UNTRUSTED
        assert error.message.startswith(
            "certificate not trusted (self-signed or unknown CA; set ca_file if this is your "
            "own server)"
        )
    elif fault == "expired":
        assert error.kind is FailureKind.TLS_EXPIRED
        assert error.message == f"certificate expired on {expired_on(mail_servers)}"
    else:
        assert error.kind is FailureKind.TLS_HOSTNAME
        assert error.message == f"certificate is for wrong-host.invalid, not {server.host}"
    assert spy.calls == 0
    if proxy is not None:
        assert_no_credentials_sent(proxy, spy.password)


# --- STARTTLS not offered


@pytest.mark.parametrize("protocol", list(Protocol))
def test_server_without_starttls(mail_servers: MailServers, protocol: Protocol) -> None:
    spy = PasswordSpy(mail_servers.users[USER])
    server = server_config(
        protocol,
        Security.STARTTLS,
        mail_servers.plain_host,
        port_of(mail_servers, protocol, Security.STARTTLS),
    )
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy, timeout=TIMEOUT)
    assert error.kind is FailureKind.STARTTLS_MISSING
    assert error.message.startswith(
        f"the server does not offer {UPGRADE_COMMAND[protocol]}, so the connection cannot be "
        "protected; nothing was sent."
    )
    assert spy.calls == 0


@pytest.mark.parametrize("protocol", list(Protocol))
def test_starttls_hidden_by_a_man_in_the_middle(
    mail_servers: MailServers, fault_proxy: Callable[..., FaultProxy], protocol: Protocol
) -> None:
    proxy = fault_proxy(
        mail_servers.host,
        port_of(mail_servers, protocol, Security.STARTTLS),
        server=Faults(rewrite_line=hide_capability(UPGRADE_COMMAND[protocol])),
    )
    spy = PasswordSpy(mail_servers.users[USER])
    server = server_config(protocol, Security.STARTTLS, proxy.host, proxy.port)
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy, timeout=TIMEOUT)
    assert error.kind is FailureKind.STARTTLS_MISSING
    assert spy.calls == 0
    assert b"X-HIDDEN-" in proxy.to_client  # the proxy really rewrote the announcement
    assert_no_credentials_sent(proxy, spy.password)


def test_imap_preauth_greeting_instead_of_starttls(
    mail_servers: MailServers, fault_proxy: Callable[..., FaultProxy]
) -> None:
    def preauth(line: bytes) -> bytes:
        return re.sub(rb"^\* OK ", b"* PREAUTH ", line)

    proxy = fault_proxy(
        mail_servers.host, mail_servers.imap_port, server=Faults(rewrite_line=preauth)
    )
    spy = PasswordSpy(mail_servers.users[USER])
    server = server_config(Protocol.IMAP, Security.STARTTLS, proxy.host, proxy.port)
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy, timeout=TIMEOUT)
    assert error.kind is FailureKind.STARTTLS_MISSING
    assert "PREAUTH" in error.message
    assert spy.calls == 0
    assert_no_credentials_sent(proxy, spy.password)


# --- authentication and password source


@pytest.mark.parametrize(("protocol", "security"), MODES, ids=MODE_IDS)
def test_wrong_password(mail_servers: MailServers, protocol: Protocol, security: Security) -> None:
    spy = PasswordSpy("Not-Alices-Password-1")
    server = server_config(
        protocol, security, mail_servers.host, port_of(mail_servers, protocol, security)
    )
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy, timeout=TIMEOUT)
    assert error.kind is FailureKind.AUTH_FAILED
    assert error.message.startswith(f"wrong user name or password for '{USER}' (server said: ")
    assert spy.password not in error.message
    assert "said: b'" not in error.message  # the server's words, not a Python bytes repr
    assert spy.calls == 1


@pytest.mark.parametrize("protocol", list(Protocol))
def test_password_unavailable(mail_servers: MailServers, protocol: Protocol) -> None:
    asked = []

    def no_password() -> str:
        asked.append(True)
        raise SecretError("account 'work': no password (set password_command)")

    server = server_config(
        protocol, Security.TLS, mail_servers.host, port_of(mail_servers, protocol, Security.TLS)
    )
    error = expect_failure(
        server, ca_file=mail_servers.ca_file, password=no_password, timeout=TIMEOUT
    )
    assert error.kind is FailureKind.PASSWORD_UNAVAILABLE
    assert error.message == "account 'work': no password (set password_command)"
    assert asked == [True]


# --- network failures


@pytest.mark.parametrize("protocol", list(Protocol))
def test_refused(mail_servers: MailServers, protocol: Protocol) -> None:
    # The plain-text address has no implicit-TLS listeners: its TLS ports refuse connections.
    port = port_of(mail_servers, protocol, Security.TLS)
    spy = PasswordSpy(mail_servers.users[USER])
    server = server_config(protocol, Security.TLS, mail_servers.plain_host, port)
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy, timeout=TIMEOUT)
    assert error.kind is FailureKind.REFUSED
    assert error.message == (
        f"connection refused by {mail_servers.plain_host}:{port} — is the server running, "
        "and is the port right?"
    )
    assert spy.calls == 0


@pytest.mark.parametrize(("protocol", "security"), MODES, ids=MODE_IDS)
def test_stalled_server_times_out(
    mail_servers: MailServers,
    fault_proxy: Callable[..., FaultProxy],
    protocol: Protocol,
    security: Security,
) -> None:
    # The server's first bytes (greeting or TLS handshake) are held back until the test ends.
    proxy = fault_proxy(
        mail_servers.host,
        port_of(mail_servers, protocol, security),
        server=Faults(stall_after=0),
    )
    spy = PasswordSpy(mail_servers.users[USER])
    server = server_config(protocol, security, proxy.host, proxy.port)
    started = datetime.now(UTC)
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy, timeout=1.0)
    assert error.kind is FailureKind.TIMEOUT
    assert error.message.startswith("timed out after 1 s ")
    # Generous bound: the point is that the timeout applies, not how precisely.
    assert datetime.now(UTC) - started < timedelta(seconds=30)
    assert spy.calls == 0
    assert_no_credentials_sent(proxy, spy.password)


def test_base64_credentials_check_is_meaningful() -> None:
    """The proxy check above would notice an AUTH PLAIN blob (guards the helper itself)."""
    password = "Canary-Pw-9f3b1c"
    blob = base64.b64encode(b"\0alice\0" + password.encode())
    assert any(core.encode() in blob for core in base64_cores(password.encode()))
