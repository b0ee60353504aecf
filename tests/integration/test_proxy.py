"""The fault-injecting proxy, against the real servers and stdlib clients."""

from __future__ import annotations

import imaplib
import poplib
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable

import pytest

from tests.support.mailservers import MailServers
from tests.support.proxy import FaultProxy, Faults, hide_capability

MakeProxy = Callable[..., FaultProxy]
TIMEOUT = 30


# --- hide_capability on its own (no servers) -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [
        (
            "STARTTLS",
            b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready.\r\n",
            b"* OK [CAPABILITY IMAP4rev1 X-HIDDEN-STARTTLS AUTH=PLAIN] Dovecot ready.\r\n",
        ),
        (
            "SPECIAL-USE",
            b"* CAPABILITY IMAP4rev1 MOVE SPECIAL-USE\r\n",
            b"* CAPABILITY IMAP4rev1 MOVE X-HIDDEN-SPECIAL-USE\r\n",
        ),
        ("STLS", b"STLS\r\n", b"X-HIDDEN-STLS\r\n"),
        ("STARTTLS", b"250-STARTTLS\r\n", b"250-X-HIDDEN-STARTTLS\r\n"),
        ("STARTTLS", b"250 STARTTLS\r\n", b"250 X-HIDDEN-STARTTLS\r\n"),
        # Only announcements are touched, and only the whole token.
        ("STARTTLS", b"a1 OK STARTTLS completed\r\n", b"a1 OK STARTTLS completed\r\n"),
        (
            "MOVE",
            b"* CAPABILITY IMAP4rev1 MOVEX X-MOVE\r\n",
            b"* CAPABILITY IMAP4rev1 MOVEX X-MOVE\r\n",
        ),
        ("CONDSTORE", b"Subject: CONDSTORE\r\n", b"Subject: CONDSTORE\r\n"),
    ],
)
def test_hide_capability(name: str, line: bytes, expected: bytes) -> None:
    assert hide_capability(name)(line) == expected


# --- against the servers ---------------------------------------------------------------------


@pytest.mark.integration
def test_passes_a_starttls_session_through_and_records_it(
    mail_servers: MailServers, fault_proxy: MakeProxy
) -> None:
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    password = mail_servers.users["alice"]
    with imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT) as imap:
        imap.starttls(ssl_context=mail_servers.client_ssl_context())
        imap.login("alice", password)
        imap.select("INBOX", readonly=True)
    proxy.connections[0].closed.wait(TIMEOUT)
    assert proxy.from_server.startswith(b"* OK [CAPABILITY IMAP4rev1")
    assert b"STARTTLS\r\n" in proxy.from_client
    # The login went inside TLS: the password never crossed the wire in the clear.
    assert password.encode() not in proxy.from_client
    assert proxy.to_server == proxy.from_client
    assert proxy.to_client == proxy.from_server


@pytest.mark.integration
def test_records_a_plaintext_password(mail_servers: MailServers, fault_proxy: MakeProxy) -> None:
    # The counterpart of the test above: the record would show a password sent in the clear.
    proxy = fault_proxy(mail_servers.plain_host, mail_servers.imap_port)
    with imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT) as imap:
        imap.login("alice", mail_servers.users["alice"])
    assert mail_servers.users["alice"].encode() in proxy.from_client


@pytest.mark.integration
def test_hides_starttls_from_imap(mail_servers: MailServers, fault_proxy: MakeProxy) -> None:
    proxy = fault_proxy(
        mail_servers.host,
        mail_servers.imap_port,
        server=Faults(rewrite_line=hide_capability("STARTTLS")),
    )
    imap = imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT)
    try:
        assert "STARTTLS" not in imap.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="TLS not supported"):
            imap.starttls(ssl_context=mail_servers.client_ssl_context())
    finally:
        imap.shutdown()
    assert b" STARTTLS " in proxy.from_server
    assert b" STARTTLS " not in proxy.to_client


@pytest.mark.integration
def test_hides_stls_from_pop3(mail_servers: MailServers, fault_proxy: MakeProxy) -> None:
    proxy = fault_proxy(
        mail_servers.host,
        mail_servers.pop3_port,
        server=Faults(rewrite_line=hide_capability("STLS")),
    )
    pop = poplib.POP3(proxy.host, proxy.port, timeout=TIMEOUT)
    try:
        capabilities = pop.capa()
        assert "STLS" not in capabilities
        assert "UIDL" in capabilities
    finally:
        pop.quit()


@pytest.mark.integration
def test_hides_starttls_from_smtp(mail_servers: MailServers, fault_proxy: MakeProxy) -> None:
    proxy = fault_proxy(
        mail_servers.host,
        mail_servers.submission_port,
        server=Faults(rewrite_line=hide_capability("STARTTLS")),
    )
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
        assert smtp.has_extn("pipelining")


@pytest.mark.integration
def test_hides_a_capability_announced_after_login(
    mail_servers: MailServers, fault_proxy: MakeProxy
) -> None:
    # Dovecot allows a plaintext login from 127.0.0.1 to 127.0.0.1 (it counts as secured), so the
    # proxy can see and rewrite the post-login capabilities without TLS.
    proxy = fault_proxy(
        mail_servers.host,
        mail_servers.imap_port,
        server=Faults(rewrite_line=hide_capability("SPECIAL-USE")),
    )
    with imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT) as imap:
        imap.login("alice", mail_servers.users["alice"])
        _, data = imap.capability()
    capabilities = data[0].decode().split()
    assert "SPECIAL-USE" not in capabilities
    assert "MOVE" in capabilities


@pytest.mark.integration
def test_cuts_the_server_side_after_n_bytes(
    mail_servers: MailServers, fault_proxy: MakeProxy
) -> None:
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port, server=Faults(close_after=10))
    with pytest.raises(imaplib.IMAP4.abort):
        imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT)
    connection = proxy.connections[0]
    assert connection.cut
    assert bytes(connection.to_client) == bytes(connection.from_server[:10])


@pytest.mark.integration
def test_cuts_the_client_side_after_n_bytes(
    mail_servers: MailServers, fault_proxy: MakeProxy
) -> None:
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port, client=Faults(close_after=5))
    # imaplib's first command (CAPABILITY, sent while connecting) is cut after 5 bytes.
    with pytest.raises(imaplib.IMAP4.abort):
        imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT)
    assert proxy.connections[0].cut
    assert proxy.to_server == proxy.from_client[:5]
    assert len(proxy.from_client) > 5


@pytest.mark.integration
def test_a_cut_with_reset_raises_connection_reset(
    mail_servers: MailServers, fault_proxy: MakeProxy
) -> None:
    proxy = fault_proxy(
        mail_servers.host, mail_servers.imap_port, server=Faults(close_after=0, reset=True)
    )
    # The reset can reach the client before its connect() returns (on a loaded machine the
    # proxy's threads accept, hear the greeting and cut first): the same reset, one call earlier.
    with (
        pytest.raises(ConnectionResetError),
        socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as client,
    ):
        proxy.wait_for_connections(1)
        proxy.connections[0].closed.wait(TIMEOUT)
        client.recv(100)
    proxy.wait_for_connections(1)
    assert proxy.connections[0].closed.wait(TIMEOUT)
    assert proxy.connections[0].cut  # the reset was the fault's


@pytest.mark.integration
def test_stalls_until_released(mail_servers: MailServers, fault_proxy: MakeProxy) -> None:
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port, server=Faults(stall_after=4))
    with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as client:
        assert _read_exactly(client, 4) == b"* OK"
        client.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.recv(100)
        proxy.release()
        client.settimeout(TIMEOUT)
        rest = _read_line(client)
    assert rest.startswith(b" [CAPABILITY IMAP4rev1")


@pytest.mark.integration
def test_stalls_for_a_duration(mail_servers: MailServers, fault_proxy: MakeProxy) -> None:
    proxy = fault_proxy(
        mail_servers.host, mail_servers.pop3_port, server=Faults(stall_after=0, stall_for=0.2)
    )
    with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as client:
        assert _read_line(client).startswith(b"+OK")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("protocol", "begin_tls"),
    [
        ("imap", rb"^\S+ OK Begin TLS"),
        ("pop3", rb"^\+OK Begin TLS"),
        ("smtp", rb"^220 2\.0\.0 Ready to start TLS"),
    ],
)
def test_injects_plaintext_between_begin_tls_and_the_handshake(
    mail_servers: MailServers, fault_proxy: MakeProxy, protocol: str, begin_tls: bytes
) -> None:
    injected = b"* OK [ALERT] injected before TLS\r\n"
    port = {
        "imap": mail_servers.imap_port,
        "pop3": mail_servers.pop3_port,
        "smtp": mail_servers.submission_port,
    }[protocol]
    proxy = fault_proxy(
        mail_servers.host, port, server=Faults(inject_after=begin_tls, inject=injected)
    )
    # The stdlib clients throw away whatever plaintext they had buffered when TLS starts, so
    # the session goes on; a client that kept it would take it for a protected response.
    _starttls_and_use(protocol, proxy, mail_servers.client_ssl_context())
    received = proxy.to_client
    line_start = re.search(begin_tls, received, re.MULTILINE)
    assert line_start is not None
    line_end = received.index(b"\n", line_start.start()) + 1
    assert received[line_end : line_end + len(injected)] == injected
    # Right after the injected bytes comes the server's TLS handshake (a handshake record).
    assert received[line_end + len(injected) : line_end + len(injected) + 2] == b"\x16\x03"
    assert injected not in proxy.from_server


@pytest.mark.integration
def test_faults_can_change_between_connections(
    mail_servers: MailServers, fault_proxy: MakeProxy
) -> None:
    proxy = fault_proxy(mail_servers.host, mail_servers.pop3s_port, server=Faults(close_after=0))
    context = mail_servers.client_ssl_context()
    with pytest.raises((ssl.SSLError, OSError)):
        poplib.POP3_SSL(proxy.host, proxy.port, context=context, timeout=TIMEOUT)
    proxy.server = Faults()  # the retry goes through
    pop = poplib.POP3_SSL(proxy.host, proxy.port, context=context, timeout=TIMEOUT)
    try:
        assert pop.getwelcome().startswith(b"+OK")
    finally:
        pop.quit()
    assert len(proxy.connections) == 2


@pytest.mark.integration
def test_close_stops_every_thread(mail_servers: MailServers) -> None:
    with FaultProxy(mail_servers.host, mail_servers.imap_port, server=Faults(stall_after=0)) as p:
        client = socket.create_connection((p.host, p.port), timeout=TIMEOUT)
        p.wait_for_connections(1)
        prefix = f"fault-proxy-{p.port}"
        assert any(thread.name.startswith(prefix) for thread in threading.enumerate())
    client.close()
    assert not any(thread.name.startswith(prefix) for thread in threading.enumerate())
    with pytest.raises(OSError):
        socket.create_connection((p.host, p.port), timeout=TIMEOUT)


def _starttls_and_use(protocol: str, proxy: FaultProxy, context: ssl.SSLContext) -> None:
    """Upgrade to TLS through the proxy, then run one command inside TLS."""
    if protocol == "imap":
        with imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT) as imap:
            imap.starttls(ssl_context=context)
            assert imap.noop()[0] == "OK"
            assert b"injected" not in repr(imap.untagged_responses).encode()
    elif protocol == "pop3":
        pop = poplib.POP3(proxy.host, proxy.port, timeout=TIMEOUT)
        try:
            pop.stls(context=context)
            assert "USER" in pop.capa()
        finally:
            pop.quit()
    else:
        with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as smtp:
            smtp.starttls(context=context)
            assert smtp.ehlo()[0] == 250
            assert smtp.has_extn("auth")


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data
