"""The connect helpers without mail servers: refused, silent and unknown hosts, on real sockets."""

from __future__ import annotations

import asyncio
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tuimail.config.schema import DEFAULT_PORTS, ServerConfig
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol, Security
from tuimail.sync.connection import ConnectError
from tuimail.sync.imap.connect import connect_imap
from tuimail.sync.pop3.connect import connect_pop3
from tuimail.sync.smtp.connect import _smtp_command_for_log, connect_smtp

MODES = [
    (protocol, security)
    for protocol in Protocol
    for security in (Security.TLS, Security.STARTTLS, Security.NONE)
]


class PasswordSpy:
    """A password source that records whether anyone asked."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return "not-used-pw"


def connect(server: ServerConfig, password: Callable[[], str], timeout: float) -> None:
    """Connect with the helper for the server's protocol (all raise ConnectError on failure)."""
    options = {"ca_file": None, "password": password, "timeout": timeout}
    if server.protocol is Protocol.IMAP:
        connect_imap(server, **options)
    elif server.protocol is Protocol.POP3:
        connect_pop3(server, **options)
    else:
        asyncio.run(connect_smtp(server, **options))


def server_config(protocol: Protocol, security: Security, host: str, port: int) -> ServerConfig:
    return ServerConfig(protocol=protocol, host=host, port=port, security=security, username="u")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections (in the kernel) and never says anything."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.mark.parametrize(("protocol", "security"), MODES)
def test_refused(protocol: Protocol, security: Security, closed_port: int) -> None:
    spy = PasswordSpy()
    with pytest.raises(ConnectError) as caught:
        connect(server_config(protocol, security, "127.0.0.1", closed_port), spy, timeout=5)
    assert caught.value.kind is FailureKind.REFUSED
    assert caught.value.message == (
        f"connection refused by 127.0.0.1:{closed_port} — is the server running, "
        "and is the port right?"
    )
    assert str(caught.value).startswith(f"{protocol.value.upper()} 127.0.0.1:{closed_port}: ")
    assert spy.calls == 0


@pytest.mark.parametrize(("protocol", "security"), MODES)
def test_silent_server_times_out(protocol: Protocol, security: Security, silent_port: int) -> None:
    spy = PasswordSpy()
    with pytest.raises(ConnectError) as caught:
        connect(server_config(protocol, security, "127.0.0.1", silent_port), spy, timeout=0.5)
    assert caught.value.kind is FailureKind.TIMEOUT
    assert caught.value.message.startswith("timed out after 0.5 s ")
    assert f"127.0.0.1:{silent_port}" in caught.value.message
    assert spy.calls == 0


@pytest.mark.parametrize("protocol", list(Protocol))
def test_unknown_host(protocol: Protocol) -> None:
    spy = PasswordSpy()
    server = server_config(protocol, Security.TLS, "no-such-host.invalid", 993)
    with pytest.raises(ConnectError) as caught:
        connect(server, spy, timeout=5)
    assert caught.value.kind is FailureKind.DNS
    assert caught.value.message.startswith("cannot find the host 'no-such-host.invalid'")
    assert spy.calls == 0


@pytest.mark.parametrize("protocol", list(Protocol))
def test_unusable_ca_file_stops_before_connecting(protocol: Protocol, tmp_path: Path) -> None:
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("not a certificate\n")
    spy = PasswordSpy()
    server = server_config(
        protocol, Security.TLS, "127.0.0.1", DEFAULT_PORTS[protocol][Security.TLS]
    )
    options = {"ca_file": bad_ca, "password": spy, "timeout": 5}
    with pytest.raises(ConnectError) as caught:
        if protocol is Protocol.IMAP:
            connect_imap(server, **options)
        elif protocol is Protocol.POP3:
            connect_pop3(server, **options)
        else:
            asyncio.run(connect_smtp(server, **options))
    assert caught.value.kind is FailureKind.TLS_OTHER
    assert caught.value.message.startswith(f"ca_file {str(bad_ca)!r} cannot be used")
    assert spy.calls == 0


def test_smtp_log_lines_hide_authentication_data() -> None:
    assert _smtp_command_for_log((b"EHLO", b"client.example")) == "EHLO client.example"
    assert _smtp_command_for_log((b"MAIL", b"FROM:<a@example.org>")) == "MAIL FROM:<a@example.org>"
    assert _smtp_command_for_log((b"AUTH", b"PLAIN", b"AHUAcHc=")) == "AUTH PLAIN <hidden>"
    assert _smtp_command_for_log((b"AUTH", b"LOGIN")) == "AUTH LOGIN <hidden>"
    # AUTH LOGIN sends the user name and the password as bare lines.
    assert _smtp_command_for_log((b"cGFzc3dvcmQ=",)) == "<authentication data hidden>"
    assert _smtp_command_for_log((b"EHLO", b"x\x1b[2J")) == "EHLO x [2J"


# --- literals before login


class ScriptedImapServer:
    """A loopback IMAP 'server' that sends a greeting, then answers each command line in turn
    with the next of `answers` (`TAG` replaced by the command's tag), recording what it got."""

    def __init__(self, greeting: bytes, answers: list[bytes]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.answers = list(answers)
        self.received = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.sendall(self.greeting)
            reader = conn.makefile("rb")
            while self.answers and (line := reader.readline()):
                self.received += line
                tag = line.split(b" ", 1)[0]
                conn.sendall(self.answers.pop(0).replace(b"TAG", tag))
            # Hold the connection open (as a hostile server would) until the client leaves.
            while reader.readline():
                pass

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.mark.parametrize(
    ("greeting", "answers"),
    [
        (b"* OK {99999999999}\r\n", []),
        (b"* OK {3000000000}\r\n", []),  # a few GB: imaplib would allocate and wait for them all
        (b"* OK ready\r\n", [b"* CAPABILITY {3000000000}\r\n"]),
    ],
    ids=["greeting-absurd", "greeting-3gb", "capability-3gb"],
)
def test_a_huge_literal_before_login_is_refused_without_reading_it(
    greeting: bytes, answers: list[bytes]
) -> None:
    server = ScriptedImapServer(greeting, answers)
    spy = PasswordSpy()
    tracemalloc.start()
    try:
        with pytest.raises(ConnectError) as caught:
            connect_imap(
                server_config(Protocol.IMAP, Security.NONE, "127.0.0.1", server.port),
                ca_file=None,
                password=spy,
                timeout=10,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.close()
    assert "before login, over the limit" in caught.value.message
    assert "refused without reading it" in caught.value.message
    assert peak < 16 * 1024 * 1024  # nothing of the announced size was allocated
    assert spy.calls == 0 and b"LOGIN" not in bytes(server.received)
