"""A deadline per command on IMAP and POP3 connections, so a server that trickles cannot hang us.

A socket's own timeout bounds each read: a server that sends one byte a second never trips it,
and imaplib and poplib read a line (or a literal) with as many reads as it takes. Here the whole
answer is bounded: the connection's sockets (plain and TLS) are of classes whose reads and TLS
handshakes give up once `Deadline` has passed. The deadline starts when the connection is made
(for the greeting) and again whenever the client sends something (a command, a literal, the end
of IDLE), so it bounds each command's whole answer, however the library reads it; the client
libraries are not patched.

Once a deadline has passed, the connection is spent (the answer is half read): every later read
or write on it fails at once with the same `CommandTimeout`, so a polite LOGOUT or QUIT in a
cleanup path cannot wait again.

`abort_all()` ends every such connection of the process now (the app calls it when it quits):
a read blocked in another thread returns at once, and the connection is spent the same way.

How the sockets get these classes:
- TLS: `Deadline.arm(context)` sets the context's `sslsocket_class` (a documented attribute of
  `ssl.SSLContext`), so implicit TLS and STARTTLS/STLS sockets made from it are bounded, their
  handshake included.
- plain: `Deadline.adopt(sock)` takes over a connected socket's file descriptor. The IMAP and
  POP3 classes call it from `open_socket`, the hook imap_wire and pop3_wire give for where
  imaplib and poplib make the socket (their private `_create_socket`).
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

# The command name in a line the client sends: imaplib tags are four capitals and a number.
IMAP_COMMAND = re.compile(rb"^[A-Z]{4}\d+ (?:UID )?([A-Za-z]+)")
POP3_COMMAND = re.compile(
    rb"^(USER|PASS|APOP|AUTH|STAT|LIST|RETR|DELE|NOOP|RSET|QUIT|TOP|UIDL|CAPA|STLS)\b",
    re.IGNORECASE,
)


class CommandTimeout(TimeoutError):
    """The server did not finish an answer (or its greeting) within the command timeout."""


class ConnectionAborted(ConnectionAbortedError):
    """`abort_all()` ended the connection (the program is quitting)."""


# Every live connection's deadline, for abort_all().
_LIVE: weakref.WeakSet[Deadline] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def abort_all(reason: str = "tuimail is quitting") -> None:
    """End every connection that keeps a deadline, now, from any thread."""
    with _LIVE_LOCK:
        deadlines = list(_LIVE)
    for deadline in deadlines:
        deadline.abort(reason)


class Deadline:
    """The command deadline of one connection.

    `seconds`: how long one answer may take in all; `where`: "host:port" for messages;
    `command`: the pattern that finds the command's name in what is sent (for messages).
    """

    def __init__(self, seconds: float, where: str, command: re.Pattern[bytes]) -> None:
        self.seconds = seconds
        self.where = where
        self._command = command
        self._waiting_for = "its greeting"
        self._expires = time.monotonic() + seconds
        self.expired: CommandTimeout | ConnectionAborted | None = None
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        with _LIVE_LOCK:
            _LIVE.add(self)

    # --- the clock

    def sent(self, data: bytes | bytearray | memoryview) -> None:
        """The client sent `data`: the deadline starts again for the answer."""
        if self.expired is not None:
            raise self.expired
        match = self._command.match(bytes(data[:40]))
        if match is not None:
            self._waiting_for = f"its answer to {match.group(1).decode('ascii').upper()}"
        self._expires = time.monotonic() + self.seconds

    def restart(self, waiting_for: str) -> None:
        """Start the deadline again without sending (e.g. news arrived during IDLE)."""
        if self.expired is not None:
            raise self.expired
        self._waiting_for = waiting_for
        self._expires = time.monotonic() + self.seconds

    def remaining(self) -> float:
        """Seconds left; raises CommandTimeout (and spends the connection) when none are."""
        if self.expired is not None:
            raise self.expired
        left = self._expires - time.monotonic()
        if left <= 0:
            raise self.expire()
        return left

    def expire(self) -> CommandTimeout | ConnectionAborted:
        """The error for this deadline having passed (or the abort that spent the connection
        first); the connection is spent from now on."""
        if self.expired is None:
            self.expired = CommandTimeout(
                f"timed out: {self.where} did not finish {self._waiting_for} within "
                f"{self.seconds:g} s (command_timeout)"
            )
        return self.expired

    def abort(self, reason: str) -> None:
        """Spend the connection now: blocked reads return, later ones fail at once."""
        if self.expired is None:
            self.expired = ConnectionAborted(f"the connection to {self.where} was closed: {reason}")
        for sock in list(self._sockets):
            # The plain socket's shutdown, also under TLS (SSLSocket.shutdown would drop its
            # TLS state under a read that another thread is doing): the read sees the end.
            with suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def track(self, sock: socket.socket) -> None:
        """Remember `sock` as this connection's, for abort()."""
        if sock not in self._sockets:
            self._sockets.add(sock)
            if self.expired is not None and isinstance(self.expired, ConnectionAborted):
                with suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    # --- sockets

    def arm(self, context: ssl.SSLContext | None) -> None:
        """Make the TLS sockets `context` creates keep this deadline (handshake included)."""
        if context is not None:
            context.sslsocket_class = type(
                "DeadlineSSLSocket", (DeadlineSSLSocket,), {"deadline": self}
            )

    def adopt(self, sock: socket.socket) -> socket.socket:
        """`sock` (connected, plain) as a socket that keeps this deadline; TLS sockets made by
        an armed context are returned as they are."""
        if isinstance(sock, ssl.SSLSocket | DeadlineSocket):
            return sock
        timeout = sock.gettimeout()
        adopted = DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.deadline = self
        adopted.settimeout(timeout)
        self.track(adopted)
        return adopted


def deadline_of(sock: Any) -> Deadline | None:
    """The deadline a connection's socket keeps, if any."""
    return getattr(sock, "deadline", None)


@contextmanager
def _bounded(sock: socket.socket, deadline: Deadline | None) -> Iterator[None]:
    """Run one blocking operation on `sock` within what is left of `deadline`."""
    if deadline is None:
        yield
        return
    deadline.track(sock)
    left = deadline.remaining()
    timeout = sock.gettimeout()
    if timeout is not None and timeout <= left:
        yield  # the per-read timeout comes first (or the socket does not block)
        return
    sock.settimeout(left)
    try:
        yield
    except TimeoutError:
        raise deadline.expire() from None
    finally:
        with suppress(OSError):  # closed meanwhile
            sock.settimeout(timeout)


def _send_then(deadline: Deadline | None, data: Any, send: Callable[..., Any], *args: Any) -> Any:
    if deadline is not None:
        deadline.sent(data)
    return send(data, *args)  # sends are bounded by the per-read timeout (one for the whole)


class DeadlineSocket(socket.socket):
    """A plain socket whose reads end when its deadline passes, and whose sends restart it."""

    __slots__ = ("deadline",)
    deadline: Deadline | None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        with _bounded(self, self.deadline):
            return super().recv(bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        with _bounded(self, self.deadline):
            return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        _send_then(self.deadline, data, super().sendall, flags)


class DeadlineSSLSocket(ssl.SSLSocket):
    """A TLS socket whose handshake and reads end when its deadline passes, and whose sends
    restart it. `deadline` is set on the subclass `Deadline.arm` makes."""

    deadline: Deadline | None = None

    def do_handshake(self, block: bool = False) -> None:
        with _bounded(self, self.deadline):
            super().do_handshake(block)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        with _bounded(self, self.deadline):
            return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        with _bounded(self, self.deadline):
            return super().recv_into(buffer, nbytes, flags)

    def read(self, len: int = 1024, buffer: Any = None) -> bytes:
        with _bounded(self, self.deadline):
            return super().read(len, buffer)

    def sendall(self, data: Any, flags: int = 0) -> None:
        _send_then(self.deadline, data, super().sendall, flags)
