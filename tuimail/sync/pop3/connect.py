"""Connect and log in to a POP3 server: `connect_pop3()` -> a `poplib.POP3` session.

Implicit TLS or a required STLS, CAPA asked again on the protected connection, UTF8 (RFC 6856)
when offered, then one login method (`pop3_login_method`: AUTH PLAIN, APOP or USER/PASS), or
OAUTHBEARER/XOAUTH2 for OAuth2 accounts. The session (`Pop3`, `Pop3SSL`) reads lines longer
than poplib allows, bounds each whole answer, and keeps a deadline per command. The conversation
is logged at DEBUG to `tuimail.sync.wire.pop3`, authentication data hidden. The rules every
connection keeps are in `tuimail.sync.connection`.
"""

from __future__ import annotations

import base64
import enum
import logging
import poplib
import socket
import ssl
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from tuimail.auth.credentials import PasswordSource, get_password
from tuimail.auth.sasl import (
    oauth_response,
    plain_response,
    sasl_error_text,
)
from tuimail.config.schema import ServerConfig
from tuimail.core.model import Protocol, Security
from tuimail.core.tls import printable_line
from tuimail.mail import limits
from tuimail.sync.connection import (
    Attempt,
    ConnectError,
    GuardedContext,
    PeerCert,
    Step,
    oauth_login_mechanism,
    oauth_tokens,
    peer_cert,
    server_text,
)
from tuimail.sync.deadline import POP3_COMMAND, Deadline
from tuimail.sync.pop3.wire import Pop3Hooks, get_response, short_command

if TYPE_CHECKING:
    from tuimail.sync.session import EngineSession

log = logging.getLogger(__name__)
pop3_wire = logging.getLogger("tuimail.sync.wire.pop3")

# Longest line accepted from a POP3 server. poplib refuses lines over 2048 bytes, but real mail
# has longer ones (unwrapped HTML, long base64 lines); the cap only bounds memory per line.
POP3_MAX_LINE = 16 * 1024 * 1024

# RFC 5034: an AUTH command with its initial response fits in 255 octets, else it is sent after a
# "+ " continuation.
_POP3_MAX_COMMAND = 255


class AnswerTooLargeError(poplib.error_proto):
    """A multi-line POP3 answer passed limits.MAX_COMMAND_BYTES; the rest was not read, so the
    connection cannot go on (not to be taken for a server's -ERR)."""


class _LongLines(Pop3Hooks):
    """poplib's line reader without its 2048-byte limit (up to POP3_MAX_LINE), the
    capabilities the server announced on the protected connection (`capabilities`, CAPA's
    answer as poplib parses it; {} when the server has no CAPA), and a deadline per command
    (`deadline`, see tuimail.sync.deadline) from the greeting on.
    """

    file: Any
    capabilities: dict[str, list[str]]  # set by _open_pop3

    def __init__(self, *args: Any, deadline: Deadline | None = None, **kwargs: Any) -> None:
        self.deadline = deadline
        super().__init__(*args, **kwargs)  # connects and reads the greeting

    def open_socket(self, timeout: float) -> socket.socket:
        """poplib's socket, adopted by the deadline."""
        sock = super().open_socket(timeout)
        return sock if self.deadline is None else self.deadline.adopt(sock)

    def read_line(self) -> tuple[bytes, int]:
        """One line without its end, and the octets read; up to POP3_MAX_LINE."""
        line = self.file.readline(POP3_MAX_LINE + 1)
        if len(line) > POP3_MAX_LINE:
            raise poplib.error_proto("-ERR line too long")
        if not line:
            raise poplib.error_proto("-ERR EOF")
        octets = len(line)
        # Same rules as poplib: readline() ends lines at LF; strip CRLF, or CR...LF, or LF.
        if line[-2:] == b"\r\n":
            return line[:-2], octets
        if line[:1] == b"\r":
            return line[1:-1], octets
        return line[:-1], octets

    def read_long_response(self) -> tuple[bytes, list[bytes], int]:
        """poplib's, with the whole answer bounded: it keeps every line of a listing (UIDL).
        The whole lines already buffered are taken at once (`buffered_lines`; a UIDL listing
        of 10,000 lines one Python step each was a fifth of a fetch with nothing new), the
        others one at a time, as poplib reads them."""
        response = get_response(self)  # type: ignore[arg-type]
        lines: list[bytes] = []
        octets = 0
        # The octets as poplib counts them: each line unstuffed with its end, not the final dot.
        while True:
            piece, done, size = buffered_lines(self.file)
            if size:
                lines.extend(piece.split(b"\r\n")[:-1])  # each ends with CRLF: no part after
                octets += len(piece)
            else:
                line, size = self.read_line()
                done = line == b"."
                if line.startswith(b".."):
                    size -= 1
                    line = line[1:]
                if not done:
                    lines.append(line)
                    octets += size
            if octets > limits.MAX_COMMAND_BYTES:
                raise AnswerTooLargeError(
                    f"an answer larger than {limits.MAX_COMMAND_BYTES:,} bytes; the rest was"
                    " not read".encode()
                )
            if done:
                return response, lines, octets


def buffered_lines(file: BinaryIO) -> tuple[bytes, bool, int]:
    """The whole lines in the reader's buffer with CRLF ends, unstuffed, up to the final dot:
    (the piece, whether the final dot ended it, bytes consumed). (b"", False, 0): none to take
    this way; nothing was consumed."""
    peek = getattr(file, "peek", None)
    if peek is None:
        return b"", False, 0
    data = peek(1)
    end = data.rfind(b"\n")
    if end < 0 or len(data) > POP3_MAX_LINE:  # every line shorter than the cap, so in data
        return b"", False, 0
    block = data[: end + 1]
    if block.count(b"\n") != block.count(b"\r\n"):
        return b"", False, 0  # a bare LF end: those lines one at a time
    # The final dot: a line "." alone (a line of the message starting with a dot is stuffed).
    if block.startswith(b".\r\n"):
        stop = 0
    else:
        stop = block.find(b"\r\n.\r\n")
        stop = stop if stop < 0 else stop + 2  # the dot line starts after that CRLF
    content = block if stop < 0 else block[:stop]
    consumed = len(block) if stop < 0 else stop + 3
    file.read(consumed)
    if content[:2] == b"..":
        content = content[1:]
    return content.replace(b"\r\n..", b"\r\n."), stop >= 0, consumed


class Pop3(_LongLines, poplib.POP3):
    """poplib.POP3 that accepts long lines."""


class Pop3SSL(_LongLines, poplib.POP3_SSL):
    """poplib.POP3_SSL that accepts long lines."""


class Pop3Login(enum.StrEnum):
    """How connect_pop3 logs in."""

    AUTH_PLAIN = "AUTH PLAIN"
    APOP = "APOP"
    USER_PASS = "USER/PASS"  # noqa: S105 - a method name, not a password


def connect_pop3(
    server: ServerConfig,
    *,
    ca_file: Path | None,
    password: PasswordSource,
    timeout: float | None = None,
) -> poplib.POP3:
    """Connect to a POP3 server, protect the connection and log in.

    `timeout` bounds each read (default: the server's `timeout`); the server's `command_timeout`
    bounds the greeting and each whole answer, for as long as the session lives.

    The login method is chosen from what the server offers (see `pop3_login_method`) and tried
    once. Raises ConnectError. The returned session reads lines of any sane length (up to
    POP3_MAX_LINE); the caller ends it with `quit()`.
    """
    timeout = server.timeout if timeout is None else timeout
    attempt = Attempt(server, timeout)
    attempt.check_username()
    context = attempt.ssl_context(ca_file)
    pop: poplib.POP3 | None = None
    try:
        pop, capabilities = _open_pop3(server, context, timeout, attempt)
        _pop3_enable_utf8(pop, capabilities)
        if server.auth == "oauth2":
            _oauth_login_pop3(pop, capabilities, server, password, attempt)
            return pop
        method = pop3_login_method(
            capabilities,
            greeting=pop.getwelcome(),
            protected=server.security is not Security.NONE,
        )
        log.debug("POP3 %s:%s: logging in with %s", server.host, server.port, method)
        secret = attempt.password(password)
        attempt.step = Step.LOGIN
        _pop3_login(pop, method, server.username, secret)
        return pop
    except ConnectError:
        if pop is not None:
            pop.close()
        raise
    except Exception as exc:
        if pop is not None:
            pop.close()
        cert = None
        if attempt.wants_certificate(exc):
            cert = peer_cert(lambda ctx: _pop3_peer_cert(server, ctx, timeout), ca_file)
        raise attempt.failure(exc, cert) from exc


def pop3_login_method(
    capabilities: Mapping[str, list[str]], *, greeting: bytes, protected: bool
) -> Pop3Login:
    """Which login method to use, from the CAPA answer (after TLS) and the greeting.

    - AUTH PLAIN (RFC 5034) when CAPA lists SASL PLAIN: one round trip, UTF-8 credentials, and the
      same SASL path that other mechanisms will use.
    - APOP when the greeting carries a timestamp and either the connection is not encrypted
      (loopback only; APOP keeps the password itself off the wire) or CAPA is known and does not
      list USER (APOP is all there is). Otherwise it is avoided: it needs MD5 and a server that
      keeps the plain password, and gives nothing over USER/PASS on a protected connection.
    - USER/PASS otherwise: the baseline every server has.
    Only one method is tried: a wrong password must not count twice towards a lockout.
    """
    sasl = [mechanism.upper() for mechanism in capabilities.get("SASL", [])]
    # What apop() needs. typeshed calls the pattern str; poplib compiles it from bytes.
    has_timestamp = poplib.POP3.timestamp.match(greeting) is not None  # type: ignore[call-overload]
    if has_timestamp and not protected:
        return Pop3Login.APOP
    if "PLAIN" in sasl:
        return Pop3Login.AUTH_PLAIN
    if has_timestamp and capabilities and "USER" not in capabilities:
        return Pop3Login.APOP
    return Pop3Login.USER_PASS


def _pop3_enable_utf8(pop: poplib.POP3, capabilities: Mapping[str, list[str]]) -> None:
    """Send UTF8 (RFC 6856) when CAPA offers it, before login (the AUTHORIZATION state).

    Without it a server may send a stand-in for each message whose headers are raw UTF-8
    (Courier sends "Cannot display Unicode content") or down-convert them; with it the message
    comes as it is, and the parser reads 8-bit header bytes as UTF-8. A refusal is not an error:
    the session goes on as plain POP3.
    """
    if "UTF8" not in capabilities:
        return
    try:
        _pop3_command(lambda _: pop.utf8(), "UTF8", None)
    except poplib.error_proto:
        log.info("POP3 server refused UTF8; messages with UTF-8 headers may arrive changed")


def _pop3_login(pop: poplib.POP3, method: Pop3Login, username: str, secret: str) -> None:
    if method is Pop3Login.AUTH_PLAIN:
        blob = plain_response(username, secret).decode("ascii")
        # poplib has no AUTH helper: its low-level command sends the line and reads the answer.
        send = partial(short_command, pop)
        command = "AUTH PLAIN " + blob
        if len(command) <= _POP3_MAX_COMMAND:
            _pop3_command(send, "AUTH PLAIN <hidden>", command)
        else:
            _pop3_command(send, "AUTH PLAIN", "AUTH PLAIN")  # answered with "+ "
            _pop3_command(send, "<hidden>", blob)
    elif method is Pop3Login.APOP:
        pop3_wire.debug("> APOP %s <hidden>", printable_line(username))
        try:
            response = pop.apop(username, secret)
        except poplib.error_proto as exc:
            pop3_wire.debug("< %s", server_text(exc.args[0] if exc.args else b""))
            raise
        pop3_wire.debug("< %s", server_text(response))
    else:
        _pop3_command(pop.user, f"USER {username}", username)
        _pop3_command(pop.pass_, "PASS <hidden>", secret)


def _open_pop3(
    server: ServerConfig, context: ssl.SSLContext | None, timeout: float, attempt: Attempt
) -> tuple[poplib.POP3, dict[str, list[str]]]:
    """A connected, protected (unless security is none) POP3 session before login, with the
    capabilities asked for on the protected connection ({} when the server has no CAPA).
    """
    attempt.step = Step.CONNECT
    deadline = Deadline(server.command_timeout, attempt.where, POP3_COMMAND)
    deadline.arm(context)
    pop: poplib.POP3
    if server.security is Security.TLS:
        # Pass the context explicitly: poplib's own default does not verify certificates.
        pop = Pop3SSL(server.host, server.port, timeout=timeout, context=context, deadline=deadline)
    else:
        pop = Pop3(server.host, server.port, timeout=timeout, deadline=deadline)
    pop3_wire.debug("< %s", server_text(pop.getwelcome()))
    try:
        if server.security is Security.STARTTLS:
            attempt.step = Step.STARTTLS
            if "STLS" not in _pop3_capa(pop):
                attempt.starttls_missing("STLS", Security.TLS)
            session = pop
            guarded = GuardedContext(context, lambda: session.file, attempt, "STLS")
            try:
                _pop3_command(pop.stls, "STLS", guarded)
            except poplib.error_proto as exc:
                attempt.upgrade_refused("STLS", server_text(exc.args[0] if exc.args else b""))
        attempt.step = Step.CAPABILITIES
        # After STLS asked again: the plaintext answer is not trusted.
        capabilities = _pop3_capa(pop)
        if isinstance(pop, _LongLines):
            pop.capabilities = capabilities
    except BaseException:
        pop.close()
        raise
    return pop, capabilities


def _pop3_capa(pop: poplib.POP3) -> dict[str, list[str]]:
    pop3_wire.debug("> CAPA")
    try:
        capabilities = pop.capa()
    except AnswerTooLargeError:
        raise
    except poplib.error_proto as exc:
        pop3_wire.debug("< %s", server_text(exc.args[0] if exc.args else b""))
        return {}  # a server without CAPA offers no STLS either
    pop3_wire.debug("< %s", " ".join(capabilities))
    return capabilities


def _pop3_command(method: Callable[[Any], bytes], shown: str, argument: Any) -> bytes:
    """Run one poplib command, logging it as `shown` (poplib's own debug output goes to stdout)."""
    pop3_wire.debug("> %s", shown)
    try:
        response = method(argument)
    except poplib.error_proto as exc:
        pop3_wire.debug("< %s", server_text(exc.args[0] if exc.args else b""))
        raise
    pop3_wire.debug("< %s", server_text(response))
    return response


def _pop3_peer_cert(server: ServerConfig, context: ssl.SSLContext, timeout: float) -> PeerCert:
    pop, _ = _open_pop3(server, context, timeout, Attempt(server, timeout))
    try:
        sock = pop.sock
        return (sock.getpeercert() or {}) if isinstance(sock, ssl.SSLSocket) else {}
    finally:
        pop.close()


def _oauth_login_pop3(
    pop: poplib.POP3,
    capabilities: Mapping[str, list[str]],
    server: ServerConfig,
    password: PasswordSource,
    attempt: Attempt,
) -> None:
    mechanism = oauth_login_mechanism(capabilities.get("SASL", []), attempt)
    for token, refused in oauth_tokens(password, attempt, mechanism):
        blob = base64.b64encode(
            oauth_response(mechanism, server.username, token, server.host, server.port)
        ).decode("ascii")
        said = _pop3_sasl(pop, mechanism, blob)
        if said is None:
            return
        refused(said)


def _pop3_sasl(pop: poplib.POP3, mechanism: str, blob: str) -> str | None:
    """One RFC 5034 AUTH exchange with an initial response; None on success, else what the
    server said (a failure challenge is answered empty, as RFC 7628 §3.2.3 asks)."""
    command = f"AUTH {mechanism} {blob}"
    # poplib has no AUTH helper: its private `_shortcmd` (not in typeshed) sends a line and
    # reads the answer.
    try:
        if len(command) <= _POP3_MAX_COMMAND:
            pop3_wire.debug("> AUTH %s <hidden>", mechanism)
            response = short_command(pop, command)
        else:
            pop3_wire.debug("> AUTH %s", mechanism)
            response = short_command(pop, f"AUTH {mechanism}")  # answered with "+ "
            pop3_wire.debug("< +")
            pop3_wire.debug("> <hidden>")
            response = short_command(pop, blob)
        if response.startswith(b"+OK"):
            pop3_wire.debug("< %s", server_text(response))
            return None
        pop3_wire.debug("< + <challenge hidden>")
        said = sasl_error_text(response[1:].strip())
        pop3_wire.debug("> (empty)")
        short_command(pop, "")  # the final answer, -ERR
        return said
    except poplib.error_proto as exc:
        text = server_text(exc.args[0] if exc.args else b"")
        pop3_wire.debug("< %s", text)
        if text == "-ERR EOF":
            raise
        return text


def pop3_for(
    session: EngineSession,
    password: Callable[[], str] | None = None,
    *,
    timeout: float | None = None,
) -> poplib.POP3:
    """Connect and log in to the session's account's POP3 server. When the session ends the
    connection is closed without QUIT, so no DELE of it takes effect: QUIT is the engine's, once
    its work is safe."""
    account = session.account
    server = account.incoming
    assert server is not None and server.protocol is Protocol.POP3
    options = {} if timeout is None else {"timeout": timeout}
    pop: poplib.POP3 = session.connected(
        lambda: connect_pop3(
            server,
            ca_file=account.ca_file,
            password=password or (lambda: get_password(account, Protocol.POP3)),
            **options,
        ),
        close=lambda client: client.close(),
    )
    return pop
