"""A small POP3 server on loopback, for what the real Dovecot will not do.

Dovecot always has UIDL, never offers APOP here and makes well-formed UIDLs. `FakePop3Server`
covers the rest: a server without UIDL (and optionally without TOP), an APOP greeting, hostile
UIDLs (any bytes the test gives), duplicate UIDLs. It speaks plain POP3 (RFC 1939, CAPA from
RFC 2449), with no TLS: point an account with ``security = none`` at ``host``/``port``.

DELE marks a message; QUIT removes the marked ones (the UPDATE state); a connection that ends
without QUIT deletes nothing, as RFC 1939 says. Every command line received is recorded in
``commands`` (per connection in ``sessions``).

``utf8=True`` makes a Courier-like server (RFC 6856): CAPA lists ``UTF8``, the ``UTF8`` command is
accepted before login, and until a session has sent it, RETR and TOP of a message whose header
holds raw 8-bit bytes answer with an ASCII stub in its place (``UTF8_STUB``), as Courier's pop3d
does. Dovecot 2.3 never offers UTF8, so this is where that server is tested.

``oversized`` makes a hostile server: RETR of message n answers with lines of junk until
``oversized[n]`` bytes are sent (far more than any limit a test sets), as a server that never
ends its answer would; ``oversized_sent`` counts what each such answer got onto the wire.
"""

from __future__ import annotations

import hashlib
import socketserver
import threading
from dataclasses import dataclass, field
from types import TracebackType

# What a Courier-like server sends instead of a message with raw UTF-8 headers to a client that
# has not enabled UTF8 (the message itself is not changed on the server).
UTF8_STUB = (
    b"From: Mail Delivery Subsystem <MAILER-DAEMON@example.org>\r\n"
    b"Subject: Cannot display Unicode content\r\n"
    b"Mime-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"This E-mail message was determined to be Unicode-formatted\r\n"
    b"but your E-mail reader does not support Unicode E-mail.\r\n"
)


@dataclass
class FakeMessage:
    """One message of the maildrop: exact bytes with CRLF line ends, and its UIDL bytes."""

    raw: bytes
    uidl: bytes | None = None


@dataclass
class _Session:
    commands: list[bytes] = field(default_factory=list)
    utf8: bool = False  # the client sent UTF8


class FakePop3Server:
    """A threaded POP3 server on 127.0.0.1 with one user. Use as a context manager."""

    host = "127.0.0.1"

    def __init__(
        self,
        messages: list[FakeMessage],
        *,
        user: str = "fake",
        password: str = "fake-password",  # noqa: S107 - a test server's password
        uidl: bool = True,
        top: bool = True,
        apop_timestamp: bytes | None = None,
        capa: list[str] | None = None,
        user_command: bool = True,
        oversized: dict[int, int] | None = None,
        utf8: bool = False,
    ) -> None:
        self.messages = list(messages)
        self.user = user
        self.password = password
        self.uidl = uidl
        self.top = top
        self.apop_timestamp = apop_timestamp
        self.user_command = user_command
        self.oversized = oversized or {}
        self.oversized_sent: list[int] = []
        self.utf8 = utf8
        self.capa = capa if capa is not None else self._default_capa()
        self.sessions: list[_Session] = []
        self.lock = threading.Lock()
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                server._serve(self)

        self._server = socketserver.ThreadingTCPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits for one poll
            name=f"fake-pop3-{self.port}",
            daemon=True,
        )

    def _default_capa(self) -> list[str]:
        capa = ["TOP"] if self.top else []
        if self.uidl:
            capa.append("UIDL")
        if self.user_command:
            capa.append("USER")
        if self.utf8:
            capa.append("UTF8")
        return capa

    @property
    def commands(self) -> list[bytes]:
        """Every command line received, over all connections."""
        return [line for session in self.sessions for line in session.commands]

    def start(self) -> FakePop3Server:
        """Start serving."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the listener."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FakePop3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- the protocol

    def _serve(self, handler: socketserver.StreamRequestHandler) -> None:
        session = _Session()
        with self.lock:
            self.sessions.append(session)
        greeting = b"+OK fake POP3 ready"
        if self.apop_timestamp is not None:
            greeting += b" " + self.apop_timestamp
        send = handler.wfile.write
        send(greeting + b"\r\n")
        logged_in = False
        given_user: str | None = None
        marked: set[int] = set()
        while True:
            line = handler.rfile.readline(4096)
            if not line:
                return  # no QUIT: nothing is deleted
            line = line.rstrip(b"\r\n")
            session.commands.append(line)
            verb, _, argument = line.partition(b" ")
            verb = verb.upper()
            if verb == b"QUIT":
                if logged_in:
                    with self.lock:
                        self.messages = [
                            m for n, m in enumerate(self.messages, 1) if n not in marked
                        ]
                send(b"+OK bye\r\n")
                return
            if verb == b"CAPA":
                if self.capa is None:
                    send(b"-ERR unknown command\r\n")
                else:
                    send(b"+OK\r\n" + b"".join(c.encode() + b"\r\n" for c in self.capa) + b".\r\n")
            elif verb == b"UTF8" and self.utf8 and not logged_in:
                session.utf8 = True  # RFC 6856: only in the AUTHORIZATION state
                send(b"+OK UTF8 enabled\r\n")
            elif not logged_in:
                logged_in, given_user = self._authorize(send, verb, argument, given_user)
            else:
                self._transaction(send, verb, argument, marked, utf8=session.utf8)

    def _authorize(
        self, send, verb: bytes, argument: bytes, given_user: str | None
    ) -> tuple[bool, str | None]:
        if verb == b"USER" and self.user_command:
            send(b"+OK\r\n")
            return False, argument.decode()
        if verb == b"PASS" and self.user_command and given_user is not None:
            if given_user == self.user and argument.decode() == self.password:
                send(b"+OK logged in\r\n")
                return True, given_user
            send(b"-ERR [AUTH] wrong password\r\n")
            return False, None
        if verb == b"APOP" and self.apop_timestamp is not None:
            name, _, digest = argument.partition(b" ")
            expected = hashlib.md5(  # noqa: S324 - APOP is MD5 by definition
                self.apop_timestamp + self.password.encode()
            ).hexdigest()
            if name.decode() == self.user and digest.decode() == expected:
                send(b"+OK logged in\r\n")
                return True, self.user
            send(b"-ERR [AUTH] wrong digest\r\n")
            return False, None
        send(b"-ERR not now\r\n")
        return False, given_user

    def _transaction(
        self, send, verb: bytes, argument: bytes, marked: set[int], *, utf8: bool
    ) -> None:
        with self.lock:
            messages = list(self.messages)
        live = [(n, m) for n, m in enumerate(messages, 1) if n not in marked]
        if verb == b"STAT":
            send(b"+OK %d %d\r\n" % (len(live), sum(len(m.raw) for _, m in live)))
        elif verb == b"LIST":
            send(b"+OK\r\n" + b"".join(b"%d %d\r\n" % (n, len(m.raw)) for n, m in live) + b".\r\n")
        elif verb == b"UIDL" and self.uidl:
            lines = b"".join(b"%d %s\r\n" % (n, m.uidl or b"") for n, m in live)
            send(b"+OK\r\n" + lines + b".\r\n")
        elif verb in (b"RETR", b"TOP", b"DELE") and (verb != b"TOP" or self.top):
            number_text = argument.split(b" ")[0]
            number = int(number_text) if number_text.isdigit() else 0
            if not 1 <= number <= len(messages) or number in marked:
                send(b"-ERR no such message\r\n")
            elif verb == b"DELE":
                marked.add(number)
                send(b"+OK marked\r\n")
            elif verb == b"RETR" and number in self.oversized:
                self._send_oversized(send, self.oversized[number])
            else:
                raw = messages[number - 1].raw
                if self.utf8 and not utf8 and not _header(raw).isascii():
                    raw = UTF8_STUB
                if verb == b"TOP":
                    end = raw.find(b"\r\n\r\n")
                    raw = raw if end < 0 else raw[: end + 4]
                send(b"+OK\r\n" + _dot_stuffed(raw) + b".\r\n")
        elif verb == b"NOOP":
            send(b"+OK\r\n")
        elif verb == b"RSET":
            marked.clear()
            send(b"+OK\r\n")
        else:
            send(b"-ERR unknown command\r\n")

    def _send_oversized(self, send, size: int) -> None:
        line = b"junk " * 200 + b"\r\n"
        sent = 0
        try:
            send(b"+OK\r\n")
            while sent < size:
                send(line)
                sent += len(line)
            send(b".\r\n")
        except OSError:  # the client stopped reading and closed the connection
            pass
        with self.lock:
            self.oversized_sent.append(sent)


def _header(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[:end]


def _dot_stuffed(raw: bytes) -> bytes:
    """The message as a multi-line response body: dot-stuffed, ending with CRLF."""
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    lines = raw.split(b"\r\n")[:-1]
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)
