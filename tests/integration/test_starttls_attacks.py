"""Attacks on the STARTTLS upgrade and on the login, for IMAP, POP3 and SMTP.

Each test runs the real connect helper with `security = "starttls"` against the real Dovecot or
Postfix, with the fault proxy in between playing the man in the middle (or, for old TLS versions,
a small server of the test's own). Every attack must end in a `ConnectError` of the right kind
with a printable message saying what happened, the password source must never have been asked,
and the proxy's record must show that no login command and no form of the password crossed the
wire.

What has no analogue and is therefore not tested here: a pre-authenticated greeting exists only
in IMAP (`* PREAUTH`, see test_connect.py); POP3 always needs USER/PASS, APOP or AUTH, and an SMTP
submission server that lets a client send without AUTH is refused mail by Postfix's own rules,
while tuimail always authenticates after STARTTLS anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.ca import CertificateAuthority
from tests.support.credentials import (
    PasswordSpy,
    assert_no_credentials_sent,
    plaintext_part,
)
from tests.support.mailservers import MailServers
from tests.support.proxy import FaultProxy, Faults
from tuimail.config.schema import ServerConfig
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol, Security
from tuimail.sync.connection import ConnectError
from tuimail.sync.imap.connect import connect_imap
from tuimail.sync.pop3.connect import connect_pop3
from tuimail.sync.smtp.connect import connect_smtp

pytestmark = pytest.mark.integration

USER = "alice"
TIMEOUT = 10.0
PROTOCOLS = list(Protocol)
STARTTLS_PORT = {
    Protocol.IMAP: "imap_port",
    Protocol.POP3: "pop3_port",
    Protocol.SMTP: "submission_port",
}
UPGRADE_COMMAND = {Protocol.IMAP: b"STARTTLS", Protocol.POP3: b"STLS", Protocol.SMTP: b"STARTTLS"}
# The server's "go ahead with the handshake" line, as Dovecot and Postfix word it.
GO_AHEAD = {
    Protocol.IMAP: rb"^\S+ OK Begin TLS",
    Protocol.POP3: rb"^\+OK Begin TLS",
    Protocol.SMTP: rb"^220 2\.0\.0 Ready to start TLS",
}


def starttls_server(protocol: Protocol, host: str, port: int, username: str = USER) -> ServerConfig:
    return ServerConfig(
        protocol=protocol, host=host, port=port, security=Security.STARTTLS, username=username
    )


def through_proxy(
    mail_servers: MailServers,
    fault_proxy: Callable[..., FaultProxy],
    protocol: Protocol,
    server_faults: Faults | None = None,
) -> tuple[FaultProxy, ServerConfig]:
    """A proxy in front of the real server's STARTTLS port, and the settings that use it."""
    proxy = fault_proxy(
        mail_servers.host, getattr(mail_servers, STARTTLS_PORT[protocol]), server=server_faults
    )
    return proxy, starttls_server(protocol, proxy.host, proxy.port)


def session(
    server: ServerConfig,
    *,
    ca_file: Path | None,
    password: Callable[[], str],
    inspect: Callable[[Any], Any] = lambda client: None,
) -> Any:
    """Connect and log in with the helper for `server.protocol`, run `inspect(client)` on the
    logged-in client, end the session; returns what `inspect` returned. Raises ConnectError."""
    options = {"ca_file": ca_file, "password": password, "timeout": TIMEOUT}
    if server.protocol is Protocol.IMAP:
        imap = connect_imap(server, **options)
        try:
            return inspect(imap)
        finally:
            imap.logout()
    if server.protocol is Protocol.POP3:
        pop = connect_pop3(server, **options)
        try:
            return inspect(pop)
        finally:
            pop.quit()

    async def smtp_session() -> Any:
        smtp = await connect_smtp(server, **options)
        try:
            return inspect(smtp)
        finally:
            await smtp.quit()

    return asyncio.run(smtp_session())


def expect_failure(
    server: ServerConfig, *, ca_file: Path | None, password: Callable[[], str]
) -> ConnectError:
    with pytest.raises(ConnectError) as caught:
        session(server, ca_file=ca_file, password=password)
    error = caught.value
    assert (error.protocol, error.host, error.port) == (server.protocol, server.host, server.port)
    assert error.message.isprintable()
    return error


def delivered(proxy: FaultProxy, expected: bytes, timeout: float = TIMEOUT) -> bool:
    """Whether the proxy passed `expected` on to the client (it records a chunk just after
    sending it, so the client may have acted on it a moment before: wait, boundedly)."""
    deadline = time.monotonic() + timeout
    while expected not in proxy.to_client:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- the server (or someone in between) refuses the upgrade

REFUSALS = {
    Protocol.IMAP: (rb"^(\S+) OK Begin TLS.*", rb"\1 NO STARTTLS is not available now"),
    Protocol.POP3: (rb"^\+OK Begin TLS.*", rb"-ERR STLS is not available now"),
    Protocol.SMTP: (rb"^220 2\.0\.0 Ready to start TLS.*", rb"454 4.7.0 TLS not available now"),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_upgrade_command_answered_with_an_error(
    mail_servers: MailServers, fault_proxy: Callable[..., FaultProxy], protocol: Protocol
) -> None:
    pattern, replacement = REFUSALS[protocol]

    def refuse(line: bytes) -> bytes:
        return re.sub(pattern, replacement, line.rstrip(b"\r\n")) + b"\r\n"

    proxy, server = through_proxy(mail_servers, fault_proxy, protocol, Faults(rewrite_line=refuse))
    spy = PasswordSpy(mail_servers.users[USER])
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy)

    assert error.kind is FailureKind.STARTTLS_MISSING
    command = UPGRADE_COMMAND[protocol].decode()
    # imaplib does not keep the server's words for a NO; poplib and aiosmtplib do.
    said = {
        Protocol.IMAP: "",
        Protocol.POP3: " (it said: -ERR STLS is not available now)",
        Protocol.SMTP: " (it said: 454 4.7.0 TLS not available now)",
    }[protocol]
    assert error.message == (
        f"the server refused {command}{said}, so the connection cannot be protected; "
        "nothing was sent"
    )
    assert spy.calls == 0
    assert delivered(proxy, b"not available now")  # the proxy really refused
    assert_no_credentials_sent(proxy, spy.password)
    # Nothing at all after the refused command: no retry in plaintext, no other command.
    sent = plaintext_part(proxy.from_client)
    assert sent.rstrip(b"\r\n").endswith(UPGRADE_COMMAND[protocol]) or re.search(
        rb"(?im)^(\S+ )?(LOGOUT|QUIT)\r\n\Z", sent
    )


# --- an invalid greeting: garbage, or another protocol's words

# The last of each protocol's list is that protocol's own way of turning a client away.
BAD_GREETINGS = {
    Protocol.IMAP: [
        b"this is not a mail server\r\n",
        b"+OK Dovecot ready.\r\n",  # POP3
        b"220 mail.example ESMTP\r\n",  # SMTP
        b"* BYE too many connections\r\n",
    ],
    Protocol.POP3: [
        b"this is not a mail server\r\n",
        b"* OK IMAP4rev1 ready\r\n",  # IMAP
        b"220 mail.example ESMTP\r\n",  # SMTP
        b"-ERR [SYS/TEMP] too many connections\r\n",
    ],
    Protocol.SMTP: [
        b"this is not a mail server\r\n",
        b"* OK IMAP4rev1 ready\r\n",  # IMAP
        b"+OK Dovecot ready.\r\n",  # POP3
        b"554 5.3.2 no service for you\r\n",
    ],
}
ARTICLE = {Protocol.IMAP: "an", Protocol.POP3: "a", Protocol.SMTP: "an"}
GREETING_CASES = [(p, g) for p in PROTOCOLS for g in BAD_GREETINGS[p]]


def replace_first_line(replacement: bytes) -> Callable[[bytes], bytes]:
    seen = threading.Event()

    def rewrite(line: bytes) -> bytes:
        if seen.is_set():
            return line
        seen.set()
        return replacement

    return rewrite


@pytest.mark.parametrize(
    ("protocol", "greeting"),
    GREETING_CASES,
    ids=[f"{p.value}-{g.split()[0].decode()}" for p, g in GREETING_CASES],
)
def test_invalid_greeting(
    mail_servers: MailServers,
    fault_proxy: Callable[..., FaultProxy],
    protocol: Protocol,
    greeting: bytes,
) -> None:
    proxy, server = through_proxy(
        mail_servers, fault_proxy, protocol, Faults(rewrite_line=replace_first_line(greeting))
    )
    spy = PasswordSpy(mail_servers.users[USER])
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy)

    assert error.kind is FailureKind.PROTOCOL_ERROR
    shown = greeting.decode().strip()
    if greeting == BAD_GREETINGS[protocol][-1]:
        assert error.message == f"the server turned the connection away (it said: {shown})"
    elif protocol is Protocol.IMAP and greeting.startswith(b"+"):
        # imaplib takes "+" for a continuation request and keeps no words of it.
        assert error.message == "the server did not greet as an IMAP server should"
    else:
        assert error.message == (
            f"the server did not greet as {ARTICLE[protocol]} {protocol.value.upper()} server "
            f"should (it said: {shown})"
        )
    assert spy.calls == 0
    assert delivered(proxy, greeting)
    assert proxy.to_client.startswith(greeting)
    assert_no_credentials_sent(proxy, spy.password)
    # Nothing was upgraded either: no TLS record, no upgrade command.
    assert plaintext_part(proxy.from_client) == proxy.from_client
    assert UPGRADE_COMMAND[protocol] not in proxy.from_client


# --- bytes injected between the "go ahead" and the handshake (CVE-2011-0411 and kin)

INJECTED = {
    # Each looks like the next answer the client waits for after TLS, with a weak login offer.
    Protocol.IMAP: b"* CAPABILITY IMAP4rev1 AUTH=PLAIN X-INJECTED\r\n",
    Protocol.POP3: b"+OK injected\r\nUSER\r\nSASL PLAIN\r\nX-INJECTED\r\n.\r\n",
    Protocol.SMTP: b"250-mitm.example\r\n250-X-INJECTED\r\n250 AUTH PLAIN LOGIN\r\n",
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bytes_injected_after_the_go_ahead_stop_the_connection(
    mail_servers: MailServers, fault_proxy: Callable[..., FaultProxy], protocol: Protocol
) -> None:
    proxy, server = through_proxy(
        mail_servers,
        fault_proxy,
        protocol,
        Faults(inject_after=GO_AHEAD[protocol], inject=INJECTED[protocol]),
    )
    spy = PasswordSpy(mail_servers.users[USER])
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy)

    assert error.kind is FailureKind.TLS_OTHER
    command = UPGRADE_COMMAND[protocol].decode()
    assert error.message == (
        f"the server sent more data after agreeing to {command}, before the TLS handshake: "
        "someone may be tampering with the connection; nothing was sent"
    )
    assert spy.calls == 0
    assert delivered(proxy, INJECTED[protocol])  # the injection really reached the client
    assert_no_credentials_sent(proxy, spy.password)


# --- the capabilities announced in plaintext are never trusted


def plaintext_lies(protocol: Protocol) -> Callable[[bytes], bytes]:
    """A rewrite that adds a fake `X-PLAINTEXT-ONLY` capability (and misleading login offers)
    to what the server announces before TLS; after the handshake the proxy sees only TLS
    records and cannot touch what the server announces then."""

    def rewrite(line: bytes) -> bytes:
        if protocol is Protocol.IMAP and re.search(rb"CAPABILITY .*STARTTLS", line):
            # If believed: password login looks forbidden (LOGINDISABLED, no AUTH=PLAIN).
            line = re.sub(rb" AUTH=PLAIN\b", b"", line)
            return line.replace(b"STARTTLS", b"STARTTLS LOGINDISABLED X-PLAINTEXT-ONLY")
        if protocol is Protocol.POP3 and re.match(rb"^STLS\r?\n", line):
            return line + b"X-PLAINTEXT-ONLY\r\n"
        if protocol is Protocol.POP3 and line.startswith(b"SASL "):
            return b"SASL X-FAKE\r\n"
        if protocol is Protocol.SMTP and re.match(rb"^250[- ]STARTTLS", line):
            # If believed: no login method tuimail supports is on offer.
            return b"250-X-PLAINTEXT-ONLY\r\n250-AUTH X-FAKE\r\n" + line
        return line

    return rewrite


def announced(protocol: Protocol, client: Any) -> set[str]:
    """The capabilities the logged-in client holds, upper-cased."""
    if protocol is Protocol.IMAP:
        return {c.decode().upper() for c in client.capabilities()}
    if protocol is Protocol.POP3:
        listed = set(client.capabilities)
        listed |= {f"SASL {m}" for m in client.capabilities.get("SASL", [])}
        return {c.upper() for c in listed}
    return {name.upper() for name in client.esmtp_extensions} | {
        f"AUTH {m.upper()}" for m in client.server_auth_methods
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_capabilities_are_asked_again_after_tls(
    mail_servers: MailServers, fault_proxy: Callable[..., FaultProxy], protocol: Protocol
) -> None:
    """The client's capability list is the one the server sent over TLS.

    What the client sends after the handshake is encrypted, so the proxy cannot show the new
    CAPABILITY/CAPA/EHLO itself; the proof is that the fake announcement never reaches the
    logged-in client's list, while the real post-TLS offers (used to log in) do, and that
    believing the plaintext list would have made the login impossible (IMAP, SMTP).
    """
    proxy, server = through_proxy(
        mail_servers, fault_proxy, protocol, Faults(rewrite_line=plaintext_lies(protocol))
    )
    spy = PasswordSpy(mail_servers.users[USER])

    capabilities = session(
        server,
        ca_file=mail_servers.ca_file,
        password=spy,
        inspect=lambda client: announced(protocol, client),
    )

    assert delivered(proxy, b"X-PLAINTEXT-ONLY")  # the lie was told
    assert "X-PLAINTEXT-ONLY" not in capabilities
    assert not {"LOGINDISABLED", "SASL X-FAKE", "AUTH X-FAKE"} & capabilities
    # What the server announced over TLS (IMAP: after login, which lists no AUTH= any more).
    expected = {
        Protocol.IMAP: "IMAP4REV1",
        Protocol.POP3: "SASL PLAIN",
        Protocol.SMTP: "AUTH PLAIN",
    }[protocol]
    assert expected in capabilities
    assert spy.calls == 1
    # Before the handshake only the capability request and the upgrade went out.
    sent = plaintext_part(proxy.from_client)
    assert sent.rstrip(b"\r\n").endswith(UPGRADE_COMMAND[protocol])
    assert len(sent) < len(proxy.from_client)  # and then TLS
    assert_no_credentials_sent(proxy, spy.password)


# --- a server that offers only TLS older than 1.2


@dataclass
class OldTlsServer:
    """A loopback server that speaks TLS 1.1 at most (implicit, or after a STARTTLS of the
    given protocol), recording every byte it receives in plaintext."""

    context: ssl.SSLContext
    protocol: Protocol
    starttls: bool
    received: bytearray = field(default_factory=bytearray)
    handshake_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(timeout=10)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(TIMEOUT)
                with contextlib.suppress(OSError):
                    self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        if self.starttls and not self._plaintext_until_upgrade(conn):
            return
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.received += tls.recv(4096)
        except ssl.SSLError as exc:
            self.handshake_errors.append(exc.reason or str(exc))

    def _plaintext_until_upgrade(self, conn: socket.socket) -> bool:
        """Greet, answer capability requests, and agree to the upgrade; False on EOF."""
        reader = conn.makefile("rb", buffering=0)
        greeting, capabilities, go_ahead = {
            Protocol.IMAP: (
                b"* OK old server ready\r\n",
                b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n{tag} OK done\r\n",
                b"{tag} OK Begin TLS negotiation now\r\n",
            ),
            Protocol.POP3: (
                b"+OK old server ready\r\n",
                b"+OK\r\nSTLS\r\nUSER\r\n.\r\n",
                b"+OK Begin TLS negotiation\r\n",
            ),
            Protocol.SMTP: (
                b"220 old.example ESMTP\r\n",
                b"250-old.example\r\n250 STARTTLS\r\n",
                b"220 2.0.0 Ready to start TLS\r\n",
            ),
        }[self.protocol]
        conn.sendall(greeting)
        while line := reader.readline():
            self.received += line
            tag, _, rest = line.strip().partition(b" ")
            verb = (rest if self.protocol is Protocol.IMAP else line.strip()).split(b" ")[0]
            verb = verb.upper()
            if verb in (b"CAPABILITY", b"CAPA", b"EHLO"):
                conn.sendall(capabilities.replace(b"{tag}", tag))
            elif verb in (b"STARTTLS", b"STLS"):
                conn.sendall(go_ahead.replace(b"{tag}", tag))
                return True
            else:
                conn.sendall(b"-ERR no\r\n" if self.protocol is Protocol.POP3 else b"500 no\r\n")
        return False


def old_tls_context(test_ca: CertificateAuthority, directory: Path) -> ssl.SSLContext:
    files = test_ca.write_server_files(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # naming old versions warns
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    # OpenSSL 3 allows TLS 1.0/1.1 only at security level 0.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(files.good.cert, files.good.key)
    return context


def speaks_old_tls(port: int, ca_file: Path) -> bool:
    """Whether the server really completes a TLS 1.1 handshake (with a client that allows it)."""
    client = ssl.create_default_context(cafile=str(ca_file))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.TLSv1
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            return tls.version() == "TLSv1.1"
    except (OSError, ssl.SSLError):
        return False


@pytest.fixture
def old_tls_server(
    test_ca: CertificateAuthority, tmp_path: Path
) -> Iterator[Callable[[Protocol, bool], OldTlsServer]]:
    servers: list[OldTlsServer] = []
    context = old_tls_context(test_ca, tmp_path)

    def start(protocol: Protocol, starttls: bool) -> OldTlsServer:
        server = OldTlsServer(context, protocol, starttls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


OLD_TLS_CASES = [(p, False) for p in PROTOCOLS] + [(p, True) for p in PROTOCOLS]


@pytest.mark.parametrize(
    ("protocol", "starttls"),
    OLD_TLS_CASES,
    ids=[f"{p.value}-{'starttls' if s else 'tls'}" for p, s in OLD_TLS_CASES],
)
def test_tls_older_than_1_2_is_refused(
    old_tls_server: Callable[[Protocol, bool], OldTlsServer],
    tmp_path: Path,
    protocol: Protocol,
    starttls: bool,
) -> None:
    """A server offering at most TLS 1.1 is refused before any credential.

    The server is this test's own (Python's ssl with `@SECLEVEL=0`, which OpenSSL 3 needs for
    TLS 1.0/1.1), since the test Dovecot and Postfix refuse old versions themselves. Should the
    local OpenSSL be unable to speak TLS 1.1 at all, the handshake still fails and tuimail must
    still refuse the server; only then is the message not required to name the old version.
    """
    ca_file = tmp_path / "ca.pem"  # written with the server's certificate by the fixture
    old_tls_works = speaks_old_tls(old_tls_server(protocol, False).port, ca_file)
    old = old_tls_server(protocol, starttls)
    spy = PasswordSpy("Old-Tls-Canary-7f2e")
    server = ServerConfig(
        protocol=protocol,
        host="127.0.0.1",
        port=old.port,
        security=Security.STARTTLS if starttls else Security.TLS,
        username=USER,
    )
    error = expect_failure(server, ca_file=ca_file, password=spy)

    assert error.kind is FailureKind.TLS_OTHER
    if old_tls_works:
        assert error.message == (
            "TLS handshake failed: the server offers only TLS versions older than 1.2, "
            "which are no longer safe; ask the provider to upgrade the server"
        )
    else:
        assert error.message.startswith("TLS handshake failed")
    assert spy.calls == 0
    assert spy.password.encode() not in old.received
    for command in (b"LOGIN", b"AUTHENTICATE", b"AUTH", b"USER", b"PASS", b"APOP"):
        assert not re.search(rb"(?im)^(\S+ )?" + command + rb"\b", bytes(old.received))
    if starttls:
        assert UPGRADE_COMMAND[protocol] in old.received


# --- CR, LF or NUL in a user name or password

BAD_TEXTS = ["alice\r\nA1 LOGOUT", "alice\nQUIT", "alice\rx", "alice\x00x"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("bad", BAD_TEXTS, ids=["crlf", "lf", "cr", "nul"])
def test_line_break_in_user_name_is_refused_before_connecting(
    mail_servers: MailServers,
    fault_proxy: Callable[..., FaultProxy],
    protocol: Protocol,
    bad: str,
) -> None:
    proxy, _ = through_proxy(mail_servers, fault_proxy, protocol)
    server = starttls_server(protocol, proxy.host, proxy.port, username=bad)
    spy = PasswordSpy(mail_servers.users[USER])
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy)

    assert error.kind is FailureKind.AUTH_FAILED
    assert error.message == (
        "the user name contains a line break or NUL character, which cannot be sent to a "
        "server; fix username in the account's settings"
    )
    assert spy.calls == 0
    assert proxy.connections == []  # nothing was sent: no connection was even made


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("bad", ["pw\r\nA1 LOGOUT", "pw\nQUIT", "pw\rx", "pw\x00x"])
def test_line_break_in_password_is_refused_before_it_is_sent(
    mail_servers: MailServers,
    fault_proxy: Callable[..., FaultProxy],
    protocol: Protocol,
    bad: str,
) -> None:
    proxy, server = through_proxy(mail_servers, fault_proxy, protocol)
    spy = PasswordSpy(bad)
    error = expect_failure(server, ca_file=mail_servers.ca_file, password=spy)

    assert error.kind is FailureKind.PASSWORD_UNAVAILABLE
    assert error.message == (
        "the password contains a line break or NUL character, which cannot be sent to a server"
    )
    assert spy.calls == 1  # asked, after TLS, then refused
    assert_no_credentials_sent(proxy, bad)
