"""Connect and log in to IMAP, POP3 and SMTP servers: the one way every engine does it.

Each helper takes the server's settings, the account's extra CA file, a `password` callable and a
timeout that bounds every socket operation, and returns a logged-in client:

- `connect_imap()` -> `imapclient.IMAPClient`
- `connect_pop3()` -> `poplib.POP3`
- `connect_smtp()` (async) -> `aiosmtplib.SMTP`

Rules they keep:
- The connection is protected first: implicit TLS, or a required STARTTLS/STLS upgrade after
  which the capabilities are asked again (the plaintext list is never trusted). `password` is
  called only after that, so a TLS failure never even asks the keyring, and no credential ever
  crosses an unprotected or unverified connection. `security = "none"` (loopback hosts only; the
  config enforces it) logs in plainly.
- A refused upgrade, or any byte the server sends after its "go ahead" and before the handshake
  (plaintext a man in the middle may have injected, CVE-2011-0411), ends the attempt: the client
  libraries would silently drop such bytes, tuimail refuses the connection instead.
- A user name or password holding CR, LF or NUL is refused before it could be sent: in a command
  line it would end the command and start another one.
- Every failure is one `ConnectError` with a `kind` from `FailureKind` and a message in plain words;
  text from the server is cut to one printable line (it is untrusted).
- IMAP and POP3 connections keep a deadline per command (`tuimail.sync.deadline`): the server's
  greeting, and the whole answer to each command, must arrive within the server's
  `command_timeout`, however slowly the bytes trickle; one read waits at most `timeout`.
- Passwords are never logged. The protocol conversation is logged at DEBUG: imapclient through
  its `imapclient` loggers (it hides LOGIN/AUTHENTICATE arguments itself), POP3 and SMTP through
  `tuimail.sync.wire.pop3` / `tuimail.sync.wire.smtp` (authentication data hidden). The exact
  AUTH strings built here are registered with `tuimail.core.log` for redaction as well.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import io
import ipaddress
import logging
import poplib
import re
import socket
import ssl
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from tuimail.auth import credentials
from tuimail.auth.credentials import PasswordSource
from tuimail.auth.sasl import (
    SaslOnce,
    login_response,
    oauth_mechanism,
    oauth_response,
    password_mechanism,
    plain_response,
    sasl_error_text,
)
from tuimail.auth.secrets import SecretError
from tuimail.config.settings import DEFAULT_PORTS, ServerConfig
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol, Security
from tuimail.core.tls import (
    certificate_would_explain,
    describe_tls_error,
    make_inspection_context,
    make_ssl_context,
    printable_line,
    tls_problem,
)
from tuimail.mail import limits
from tuimail.sync.deadline import IMAP_COMMAND, POP3_COMMAND, CommandTimeout, Deadline
from tuimail.sync.pop3.wire import Pop3Hooks, get_response, short_command

if TYPE_CHECKING:
    import aiosmtplib
    import imapclient

# imapclient, aiosmtplib and asyncio are imported by the helper that needs them: a POP3 fetch
# should not pay for loading the IMAP and SMTP libraries (a noticeable part of a short run).

log = logging.getLogger(__name__)
pop3_wire = logging.getLogger("tuimail.sync.wire.pop3")
smtp_wire = logging.getLogger("tuimail.sync.wire.smtp")

DEFAULT_TIMEOUT = 20.0  # seconds, for every socket operation

PeerCert = Mapping[str, Any]
_E = TypeVar("_E", bound=BaseException)


class ConnectError(Exception):
    """Connecting or logging in failed; `message` says what happened in words a user can act on."""

    def __init__(
        self, protocol: Protocol, host: str, port: int, kind: FailureKind, message: str
    ) -> None:
        self.protocol = protocol
        self.host = host
        self.port = port
        self.kind = kind
        self.message = message
        super().__init__(f"{protocol.value.upper()} {host}:{port}: {message}")


# --- IMAP


def connect_imap(
    server: ServerConfig,
    *,
    ca_file: Path | None,
    password: PasswordSource,
    timeout: float | None = None,
) -> imapclient.IMAPClient:
    """Connect to an IMAP server, protect the connection and log in. Raises ConnectError.

    `timeout` bounds each read (default: the server's `timeout`); the server's `command_timeout`
    bounds each whole answer, for as long as the client lives.

    The caller owns the returned client (one per thread: imapclient is not thread-safe) and ends
    it with `logout()`.
    """
    from tuimail.sync.imap import extensions as imap_ext  # imports imapclient: only when used

    timeout = server.timeout if timeout is None else timeout
    attempt = _Attempt(server, timeout)
    attempt.check_username()
    context = attempt.ssl_context(ca_file)
    client: imapclient.IMAPClient | None = None
    try:
        client = _open_imap(server, context, timeout, attempt)
        if _imap_preauth(client):
            # Already authenticated by the greeting; for STARTTLS _open_imap refused this.
            log.debug("IMAP %s:%s: PREAUTH greeting, no login needed", server.host, server.port)
            imap_ext.lift_pre_login_cap(client)
            return client
        _login_imap(client, server, password, attempt)
        # Read the logged-in capabilities here, where a malformed answer is a ConnectError:
        # imapclient fails on some with AttributeError, and asks again (later, outside this
        # guard) while the list it has is empty.
        attempt.step = _Step.CAPABILITIES
        if not client.capabilities():
            attempt.fail(FailureKind.PROTOCOL_ERROR, "the server announced no capabilities")
        imap_ext.lift_pre_login_cap(client)
        return client
    except ConnectError:
        _shutdown_imap(client)
        raise
    except Exception as exc:
        _shutdown_imap(client)
        cert = None
        if attempt.wants_certificate(exc):
            cert = _peer_cert(lambda ctx: _imap_peer_cert(server, ctx, timeout), ca_file)
        raise attempt.failure(exc, cert) from exc


def _open_imap(
    server: ServerConfig, context: ssl.SSLContext | None, timeout: float, attempt: _Attempt
) -> imapclient.IMAPClient:
    """A connected, protected (unless security is none) client that has not logged in."""
    import imaplib

    from tuimail.sync.imap import extensions as imap_ext
    from tuimail.sync.imap import wire as imap_wire

    attempt.step = _Step.CONNECT
    deadline = Deadline(server.command_timeout, attempt.where, IMAP_COMMAND)
    deadline.arm(context)
    if server.security is Security.TLS:
        return imap_ext.CappedIMAPClient(
            server.host,
            server.port,
            ssl=True,
            ssl_context=context,
            timeout=timeout,
            deadline=deadline,
        )
    client = imap_ext.CappedIMAPClient(
        server.host, server.port, ssl=False, timeout=timeout, deadline=deadline
    )
    if server.security is Security.STARTTLS:
        try:
            attempt.step = _Step.STARTTLS
            if _imap_preauth(client):
                attempt.fail(
                    FailureKind.STARTTLS_MISSING,
                    "the server logged us in before STARTTLS (PREAUTH greeting), so the "
                    "connection cannot be protected; nothing was sent",
                )
            if not client.has_capability("STARTTLS"):
                attempt.starttls_missing("STARTTLS", Security.TLS)
            # imaplib's connection: its read buffer is checked before TLS
            imap = imap_wire.imaplib_of(client)
            guarded = _GuardedContext(
                context, lambda: getattr(imap, "file", None), attempt, "STARTTLS"
            )
            try:
                client.starttls(guarded)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as exc:
                # imaplib keeps the server's words only for BAD ("... command error: BAD [...]").
                said = str(exc) if "BAD" in str(exc) else None
                attempt.upgrade_refused("STARTTLS", said)
        except BaseException:
            _shutdown_imap(client)
            raise
    return client


def _imap_preauth(client: imapclient.IMAPClient) -> bool:
    return client.welcome.upper().startswith(b"* PREAUTH")


def _login_imap(
    client: imapclient.IMAPClient,
    server: ServerConfig,
    password: PasswordSource,
    attempt: _Attempt,
) -> None:
    attempt.step = _Step.CAPABILITIES
    # After STARTTLS imapclient asks again rather than reusing the plaintext list.
    capabilities = client.capabilities()
    log.debug("IMAP %s:%s capabilities: %s", server.host, server.port, capabilities)
    if server.auth == "oauth2":
        _oauth_login_imap(client, server, password, attempt, capabilities)
        return
    plain_only = b"LOGINDISABLED" in capabilities
    if plain_only and b"AUTH=PLAIN" not in capabilities:
        attempt.fail(
            FailureKind.PROTOCOL_ERROR,
            "the server refuses password login here (LOGINDISABLED, no AUTH=PLAIN)",
        )
    secret = attempt.password(password)
    # LOGIN carries only ASCII, unless the server announces UTF8=ACCEPT (RFC 6855, section 5);
    # AUTHENTICATE PLAIN carries UTF-8 (RFC 4616), so it is the way for a non-ASCII user name
    # or password.
    non_ascii = [
        what
        for what, text in (("user name", server.username), ("password", secret))
        if not text.isascii()
    ]
    has_plain = b"AUTH=PLAIN" in capabilities
    if non_ascii and not has_plain and b"UTF8=ACCEPT" not in capabilities:
        # Nothing is sent: LOGIN would garble them (or fail to encode them at all).
        which = " and the ".join(non_ascii)
        verb = "have" if len(non_ascii) > 1 else "has"
        attempt.fail(
            FailureKind.PROTOCOL_ERROR,
            f"the {which} {verb} characters other than ASCII, and the server offers no login "
            "that can carry them (IMAP LOGIN takes ASCII only; there is no AUTH=PLAIN and no "
            "UTF8=ACCEPT)",
        )
    attempt.step = _Step.LOGIN
    if plain_only or (non_ascii and has_plain):
        plain_response(server.username, secret)  # imapclient builds it again; for redaction
        client.plain_login(server.username, secret)
    elif non_ascii:
        _utf8_login(client, server.username, secret)
    else:
        client.login(server.username, secret)


def _utf8_login(client: imapclient.IMAPClient, username: str, secret: str) -> None:
    """LOGIN with UTF-8 quoted strings, for a server that announces UTF8=ACCEPT (RFC 6855,
    section 5). imaplib writes commands in ASCII until UTF8=ACCEPT is enabled, which can only
    happen after login: the connection writes UTF-8 for this one command."""
    import imapclient

    from tuimail.sync.imap import wire as imap_wire

    imap = imap_wire.imaplib_of(client)
    typ, data = imap_wire.login_utf8(imap, username, secret)
    if typ != "OK":
        said = data[-1] if data else b""
        text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
        raise imapclient.exceptions.LoginError(text)
    imap.state = "AUTH"


def _shutdown_imap(client: imapclient.IMAPClient | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):
            client.shutdown()


def _imap_peer_cert(server: ServerConfig, context: ssl.SSLContext, timeout: float) -> PeerCert:
    client = _open_imap(server, context, timeout, _Attempt(server, timeout))
    try:
        return client.socket().getpeercert()
    finally:
        _shutdown_imap(client)


# --- POP3

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
        """poplib's, with the whole answer bounded: it keeps every line of a listing (UIDL)."""
        response = get_response(self)  # type: ignore[arg-type]
        lines: list[bytes] = []
        octets = 0
        line, size = self.read_line()
        while line != b".":
            if line.startswith(b".."):
                size -= 1
                line = line[1:]
            octets += size
            if octets > limits.MAX_COMMAND_BYTES:
                raise AnswerTooLargeError(
                    f"an answer larger than {limits.MAX_COMMAND_BYTES:,} bytes; the rest was"
                    " not read".encode()
                )
            lines.append(line)
            line, size = self.read_line()
        return response, lines, octets


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
    attempt = _Attempt(server, timeout)
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
        attempt.step = _Step.LOGIN
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
            cert = _peer_cert(lambda ctx: _pop3_peer_cert(server, ctx, timeout), ca_file)
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
            pop3_wire.debug("< %s", _server_text(exc.args[0] if exc.args else b""))
            raise
        pop3_wire.debug("< %s", _server_text(response))
    else:
        _pop3_command(pop.user, f"USER {username}", username)
        _pop3_command(pop.pass_, "PASS <hidden>", secret)


def _open_pop3(
    server: ServerConfig, context: ssl.SSLContext | None, timeout: float, attempt: _Attempt
) -> tuple[poplib.POP3, dict[str, list[str]]]:
    """A connected, protected (unless security is none) POP3 session before login, with the
    capabilities asked for on the protected connection ({} when the server has no CAPA).
    """
    attempt.step = _Step.CONNECT
    deadline = Deadline(server.command_timeout, attempt.where, POP3_COMMAND)
    deadline.arm(context)
    pop: poplib.POP3
    if server.security is Security.TLS:
        # Pass the context explicitly: poplib's own default does not verify certificates.
        pop = Pop3SSL(server.host, server.port, timeout=timeout, context=context, deadline=deadline)
    else:
        pop = Pop3(server.host, server.port, timeout=timeout, deadline=deadline)
    pop3_wire.debug("< %s", _server_text(pop.getwelcome()))
    try:
        if server.security is Security.STARTTLS:
            attempt.step = _Step.STARTTLS
            if "STLS" not in _pop3_capa(pop):
                attempt.starttls_missing("STLS", Security.TLS)
            session = pop
            guarded = _GuardedContext(context, lambda: session.file, attempt, "STLS")
            try:
                _pop3_command(pop.stls, "STLS", guarded)
            except poplib.error_proto as exc:
                attempt.upgrade_refused("STLS", _server_text(exc.args[0] if exc.args else b""))
        attempt.step = _Step.CAPABILITIES
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
        pop3_wire.debug("< %s", _server_text(exc.args[0] if exc.args else b""))
        return {}  # a server without CAPA offers no STLS either
    pop3_wire.debug("< %s", " ".join(capabilities))
    return capabilities


def _pop3_command(method: Callable[[Any], bytes], shown: str, argument: Any) -> bytes:
    """Run one poplib command, logging it as `shown` (poplib's own debug output goes to stdout)."""
    pop3_wire.debug("> %s", shown)
    try:
        response = method(argument)
    except poplib.error_proto as exc:
        pop3_wire.debug("< %s", _server_text(exc.args[0] if exc.args else b""))
        raise
    pop3_wire.debug("< %s", _server_text(response))
    return response


def _pop3_peer_cert(server: ServerConfig, context: ssl.SSLContext, timeout: float) -> PeerCert:
    pop, _ = _open_pop3(server, context, timeout, _Attempt(server, timeout))
    try:
        sock = pop.sock
        return (sock.getpeercert() or {}) if isinstance(sock, ssl.SSLSocket) else {}
    finally:
        pop.close()


# --- SMTP


@cache
def _logging_smtp_class() -> type[aiosmtplib.SMTP]:
    """LoggingSMTP, defined when SMTP is first used (it subclasses aiosmtplib's client)."""
    import aiosmtplib

    class LoggingSMTP(aiosmtplib.SMTP):
        """aiosmtplib.SMTP that logs commands and replies at DEBUG, never authentication data.

        aiosmtplib itself logs nothing. Message contents (DATA) are not logged either.
        """

        async def execute_command(self, *args: bytes, **kwargs: Any) -> aiosmtplib.SMTPResponse:
            """Send one command (see aiosmtplib.SMTP.execute_command), logging it and the
            reply."""
            smtp_wire.debug("> %s", _smtp_command_for_log(args))
            response = await super().execute_command(*args, **kwargs)
            if response.code == 334:
                # An AUTH challenge: for XOAUTH2 a failure report that is not for the log.
                smtp_wire.debug("< 334 <challenge hidden>")
                return response
            smtp_wire.debug("< %d %s", response.code, _server_text(response.message, limit=500))
            return response

    return LoggingSMTP


def __getattr__(name: str) -> Any:
    """`LoggingSMTP` is created on first use (see `_logging_smtp_class`)."""
    if name == "LoggingSMTP":
        return _logging_smtp_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Commands whose arguments are safe to log; anything else (AUTH continuation lines) is hidden.
_SMTP_LOGGED_VERBS = frozenset(
    {"EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "STARTTLS", "VRFY"}
)


def _smtp_command_for_log(args: tuple[bytes, ...]) -> str:
    verb = args[0].decode("ascii", "replace").upper() if args else ""
    if verb in _SMTP_LOGGED_VERBS:
        return _server_text(b" ".join(args))
    if verb == "AUTH":
        mechanism = args[1].decode("ascii", "replace") if len(args) > 1 else ""
        return f"AUTH {printable_line(mechanism)} <hidden>"
    return "<authentication data hidden>"


async def connect_smtp(
    server: ServerConfig,
    *,
    ca_file: Path | None,
    password: PasswordSource,
    timeout: float = DEFAULT_TIMEOUT,
) -> aiosmtplib.SMTP:
    """Connect to an SMTP submission server, protect the connection and authenticate.

    Raises ConnectError. `password` is a blocking callable (it may run a password command); it is
    called in a worker thread. The caller ends the session with `quit()`.
    """
    import asyncio

    attempt = _Attempt(server, timeout)
    attempt.check_username()
    context = attempt.ssl_context(ca_file)
    smtp = _logging_smtp_class()(
        hostname=server.host,
        port=server.port,
        timeout=timeout,
        use_tls=server.security is Security.TLS,
        # Never aiosmtplib's opportunistic default (None): STARTTLS is done below, and required.
        start_tls=False,
        tls_context=context,
    )
    try:
        await _open_smtp(smtp, server, context, attempt)
        attempt.step = _Step.CAPABILITIES
        if server.auth == "oauth2":
            await _oauth_login_smtp(smtp, server, password, attempt)
            return smtp
        mechanism = _smtp_mechanism(smtp, attempt)
        secret = await asyncio.to_thread(attempt.password, password)
        attempt.step = _Step.LOGIN
        # aiosmtplib builds these itself; register them so even a short password is redacted.
        plain_response(server.username, secret)
        login_response(secret)
        # One mechanism, tried once: a wrong password must not count twice towards a lockout.
        authenticate = {
            "plain": smtp.auth_plain,
            "login": smtp.auth_login,
            "cram-md5": smtp.auth_crammd5,
        }[mechanism]
        await authenticate(server.username, secret)
        return smtp
    except ConnectError:
        smtp.close()
        raise
    except Exception as exc:
        smtp.close()
        cert = None
        if attempt.wants_certificate(exc):
            cert = await _smtp_peer_cert(server, ca_file, timeout)
        raise attempt.failure(exc, cert) from exc
    except BaseException:
        smtp.close()
        raise


def _smtp_mechanism(smtp: aiosmtplib.SMTP, attempt: _Attempt) -> str:
    """The AUTH mechanism to use, chosen before the password is asked for."""
    offered = smtp.server_auth_methods
    mechanism = password_mechanism(offered)
    if mechanism is None:
        detail = f"it offers {', '.join(offered).upper()}" if offered else "it offers none"
        attempt.fail(
            FailureKind.PROTOCOL_ERROR,
            f"the server offers no login method tuimail supports on this connection ({detail})",
        )
    return mechanism


async def _open_smtp(
    smtp: aiosmtplib.SMTP, server: ServerConfig, context: ssl.SSLContext | None, attempt: _Attempt
) -> None:
    """Connect `smtp`, protect the connection (unless security is none), and EHLO."""
    import asyncio

    import aiosmtplib

    attempt.step = _Step.CONNECT
    greeting = await smtp.connect()
    smtp_wire.debug("< %d %s", greeting.code, _server_text(greeting.message))
    smtp.local_hostname = server.helo_name or await asyncio.to_thread(
        smtp_client_name, smtp.get_transport_info("sockname")
    )
    if server.security is Security.STARTTLS:
        attempt.step = _Step.STARTTLS
        await smtp.ehlo()
        if not smtp.supports_extension("starttls"):
            attempt.starttls_missing("STARTTLS", Security.TLS)
        smtp_wire.debug("> STARTTLS")  # aiosmtplib sends this one past execute_command
        try:
            with _smtp_go_ahead_guard(smtp, attempt):
                response = await smtp.starttls(tls_context=context)
        except aiosmtplib.SMTPResponseException as exc:
            smtp_wire.debug("< %d %s", exc.code, _server_text(exc.message))
            attempt.upgrade_refused("STARTTLS", f"{exc.code} {exc.message}")
        smtp_wire.debug("< %d %s", response.code, _server_text(response.message))
    attempt.step = _Step.CAPABILITIES
    await smtp.ehlo()  # after STARTTLS the extensions are asked again


def smtp_client_name(local_address: Any) -> str:
    """The name this machine gives in EHLO when none is configured (RFC 5321, 4.1.4): its
    fully qualified domain name, or when it has none (a name without a dot, "localhost"), the
    connection's own address as an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
    `local_address` is the socket's address (its first item the IP address).
    """
    fqdn = socket.getfqdn().rstrip(".")
    is_local = fqdn.lower() == "localhost" or fqdn.lower().startswith("localhost.")
    if "." in fqdn and not is_local and fqdn.isascii() and not fqdn.startswith("["):
        try:
            ipaddress.ip_address(fqdn)  # a bare address is not a name
        except ValueError:
            return fqdn
    host = str(local_address[0]).partition("%")[0] if local_address else "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "[127.0.0.1]"
    if address.version == 6:
        return f"[IPv6:{address}]"
    return f"[{address}]"


@contextlib.contextmanager
def _smtp_go_ahead_guard(smtp: aiosmtplib.SMTP, attempt: _Attempt) -> Iterator[None]:
    """Refuse the upgrade when anything follows the server's 220 before the handshake.

    aiosmtplib reads the 220 and then drops whatever else it had buffered; the check has to run
    in between, so the connection's `read_response` is wrapped for the duration of STARTTLS.
    """
    protocol: Any = smtp.protocol
    if protocol is None:
        yield
        return
    read_response = protocol.read_response

    async def checked(*args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response = await read_response(*args, **kwargs)
        if response.code == 220 and getattr(protocol, "_buffer", None):
            attempt.plaintext_after_go_ahead("STARTTLS")
        return response

    protocol.read_response = checked
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError):
            del protocol.read_response


async def _smtp_peer_cert(
    server: ServerConfig, ca_file: Path | None, timeout: float
) -> PeerCert | None:
    import aiosmtplib

    try:
        context = make_inspection_context(ca_file)
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            timeout=timeout,
            use_tls=server.security is Security.TLS,
            start_tls=False,
            tls_context=context,
        )
        try:
            await _open_smtp(smtp, server, context, _Attempt(server, timeout))
            return smtp.get_transport_info("peercert")
        finally:
            smtp.close()
    except Exception as exc:  # only used to improve an error message
        log.debug("could not read the certificate of %s:%s: %r", server.host, server.port, exc)
        return None


# --- OAuth2 (accounts with auth = "oauth2"; the "password" source hands out access tokens)


def _oauth_refused(attempt: _Attempt, mechanism: str, said: str) -> NoReturn:
    attempt.fail(
        FailureKind.AUTH_FAILED,
        f"the server refused the OAuth2 access token for {attempt.server.username!r} "
        f"({mechanism}; {printable_line(said)}); if this goes on, run "
        "`tuimail accounts authorize` for the account again",
    )


def _oauth_attempts(
    password: PasswordSource, attempt: _Attempt, mechanism: str
) -> Iterator[tuple[str, Callable[[str], None]]]:
    """The tokens to try: the current one, and once more a refreshed one after a refusal.

    Yields (token, refused) pairs; the caller calls `refused(server_text)` when the server said
    no, which drops the token from the cache (the next one is refreshed) or, the second time,
    ends the attempt with AUTH_FAILED.
    """
    for last in (False, True):
        token = attempt.password(password)
        attempt.step = _Step.LOGIN

        def refused(said: str, token: str = token, last: bool = last) -> None:
            credentials.refused(token)
            log.info(
                "%s: %s refused the access token; %s",
                attempt.where,
                mechanism,
                "giving up" if last else "refreshing it and trying once more",
            )
            if last:
                _oauth_refused(attempt, mechanism, said)

        yield token, refused


def _oauth_mechanism(offered: Iterable[str], attempt: _Attempt) -> str:
    """OAUTHBEARER (RFC 7628) when offered, else XOAUTH2; PROTOCOL_ERROR when neither is."""
    mechanism = oauth_mechanism(offered)
    if mechanism is not None:
        return mechanism
    attempt.fail(
        FailureKind.PROTOCOL_ERROR,
        "the server offers no OAuth2 login (neither OAUTHBEARER nor XOAUTH2) on this connection",
    )


def _oauth_login_imap(
    client: imapclient.IMAPClient,
    server: ServerConfig,
    password: PasswordSource,
    attempt: _Attempt,
    capabilities: Iterable[bytes],
) -> None:
    import imapclient

    offered = [
        c.decode("ascii", "replace")[5:] for c in capabilities if c.upper().startswith(b"AUTH=")
    ]
    mechanism = _oauth_mechanism(offered, attempt)
    for token, refused in _oauth_attempts(password, attempt, mechanism):
        callback = SaslOnce(
            oauth_response(mechanism, server.username, token, server.host, server.port)
        )
        try:
            client.sasl_login(mechanism, callback)
            return
        except imapclient.exceptions.LoginError as exc:
            said = str(exc).removeprefix("authenticate failed: ")
            refused(callback.error or _imap_said(said))


def _imap_said(text: str) -> str:
    if quoted := re.fullmatch(r"b(['\"])(.*)\1", text):
        return quoted.group(2)
    return text


def _oauth_login_pop3(
    pop: poplib.POP3,
    capabilities: Mapping[str, list[str]],
    server: ServerConfig,
    password: PasswordSource,
    attempt: _Attempt,
) -> None:
    mechanism = _oauth_mechanism(capabilities.get("SASL", []), attempt)
    for token, refused in _oauth_attempts(password, attempt, mechanism):
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
            pop3_wire.debug("< %s", _server_text(response))
            return None
        pop3_wire.debug("< + <challenge hidden>")
        said = sasl_error_text(response[1:].strip())
        pop3_wire.debug("> (empty)")
        short_command(pop, "")  # the final answer, -ERR
        return said
    except poplib.error_proto as exc:
        text = _server_text(exc.args[0] if exc.args else b"")
        pop3_wire.debug("< %s", text)
        if text == "-ERR EOF":
            raise
        return text


async def _oauth_login_smtp(
    smtp: aiosmtplib.SMTP, server: ServerConfig, password: PasswordSource, attempt: _Attempt
) -> None:
    """XOAUTH2 (aiosmtplib has no OAUTHBEARER), with one retry on a refreshed token."""
    import asyncio

    import aiosmtplib

    if "xoauth2" not in smtp.server_auth_methods:
        offered = ", ".join(smtp.server_auth_methods).upper() or "none"
        attempt.fail(
            FailureKind.PROTOCOL_ERROR,
            f"the server offers no OAuth2 login (XOAUTH2) on this connection (it offers {offered})",
        )
    tokens = _oauth_attempts(password, attempt, "XOAUTH2")
    while True:
        # The token source may refresh over the network: run it in a worker thread.
        token, refused = await asyncio.to_thread(next, tokens)
        encoded = base64.b64encode(
            oauth_response("XOAUTH2", server.username, token, server.host, server.port)
        )
        try:
            await _smtp_xoauth2(smtp, encoded)
            return
        except aiosmtplib.SMTPAuthenticationError as exc:
            refused(f"{exc.code} {exc.message}")


# RFC 5321 4.5.3.1.4: a command line is at most 512 octets, CRLF included.
_SMTP_COMMAND_LINE_MAX = 512


async def _smtp_xoauth2(smtp: aiosmtplib.SMTP, encoded: bytes) -> None:
    """AUTH XOAUTH2 with the initial response on the command line when it fits, else after the
    server's empty challenge: RFC 4954 section 4 forbids an AUTH line over the SMTP limit, and
    access tokens (Microsoft's especially) are often longer. Raises SMTPAuthenticationError."""
    import aiosmtplib

    if len(b"AUTH XOAUTH2 \r\n") + len(encoded) <= _SMTP_COMMAND_LINE_MAX:
        response = await smtp.execute_command(b"AUTH", b"XOAUTH2", encoded)
    else:
        response = await smtp.execute_command(b"AUTH", b"XOAUTH2")
        if response.code == 334:
            response = await smtp.execute_command(encoded)
    if response.code == 334:
        # A failure report as a challenge (base64 JSON): answer empty for the final reply.
        response = await smtp.execute_command(b"")
    if response.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)


# --- shared


class _GuardedContext:
    """An SSL context for imaplib's and poplib's STARTTLS/STLS that first checks that nothing
    came after the server's "go ahead" line.

    Both libraries wrap the socket with `context.wrap_socket()` right after reading that line
    and throw their read buffer away: bytes a man in the middle appended to the line would be
    lost silently (or, in a less careful library, read as if they came over TLS). Anything
    already buffered, or waiting on the socket, means the stream was tampered with.
    """

    def __init__(
        self,
        context: ssl.SSLContext | None,
        reader: Callable[[], Any],
        attempt: _Attempt,
        command: str,
    ) -> None:
        self._context = context
        self._reader = reader
        self._attempt = attempt
        self._command = command

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        """Check for plaintext after the go-ahead, then wrap as the real context does."""
        if _plaintext_waiting(self._reader(), sock):
            self._attempt.plaintext_after_go_ahead(self._command)
        assert self._context is not None  # STARTTLS is only done with a context
        return self._context.wrap_socket(sock, *args, **kwargs)


def _plaintext_waiting(reader: Any, sock: socket.socket) -> bool:
    """Whether bytes are buffered in `reader` (a buffered socket file) or waiting on `sock`,
    found without blocking."""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        if isinstance(reader, io.BufferedReader):
            # peek() returns what is buffered, or does one non-blocking read of the socket.
            return bool(reader.peek(1))
        return bool(sock.recv(1, socket.MSG_PEEK))
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return False  # a closed connection fails the handshake anyway
    finally:
        sock.settimeout(timeout)


class _Step(enum.StrEnum):
    """What was going on when something failed (for timeout messages and logs)."""

    CONNECT = "connecting"
    STARTTLS = "starting TLS"
    CAPABILITIES = "asking for capabilities"
    LOGIN = "logging in"


class _Attempt:
    """One connection attempt: where it is, and how its failures are put into words."""

    def __init__(self, server: ServerConfig, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self.step = _Step.CONNECT

    @property
    def where(self) -> str:
        host = f"[{self.server.host}]" if ":" in self.server.host else self.server.host
        return f"{host}:{self.server.port}"

    def error(self, kind: FailureKind, message: str) -> ConnectError:
        return ConnectError(self.server.protocol, self.server.host, self.server.port, kind, message)

    def fail(self, kind: FailureKind, message: str) -> NoReturn:
        raise self.error(kind, message)

    def starttls_missing(self, command: str, alternative: Security) -> NoReturn:
        port = DEFAULT_PORTS[self.server.protocol][alternative]
        self.fail(
            FailureKind.STARTTLS_MISSING,
            f"the server does not offer {command}, so the connection cannot be protected; "
            f'nothing was sent. Use security = "{alternative.value}" (usually port {port}) '
            "if the server supports it",
        )

    def check_username(self) -> None:
        """Refuse a user name that would end a protocol command line early."""
        if _has_line_break(self.server.username):
            self.fail(
                FailureKind.AUTH_FAILED,
                "the user name contains a line break or NUL character, which cannot be sent to "
                "a server; fix username in the account's settings",
            )

    def upgrade_refused(self, command: str, said: str | None) -> NoReturn:
        """The server (or someone in between) answered STARTTLS/STLS with an error."""
        detail = f" (it said: {printable_line(said)})" if said else ""
        self.fail(
            FailureKind.STARTTLS_MISSING,
            f"the server refused {command}{detail}, so the connection cannot be protected; "
            "nothing was sent",
        )

    def plaintext_after_go_ahead(self, command: str) -> NoReturn:
        """Bytes followed the server's go-ahead for TLS: injected, or a broken server."""
        self.fail(
            FailureKind.TLS_OTHER,
            f"the server sent more data after agreeing to {command}, before the TLS handshake: "
            "someone may be tampering with the connection; nothing was sent",
        )

    def ssl_context(self, ca_file: Path | None) -> ssl.SSLContext | None:
        if self.server.security is Security.NONE:
            return None
        try:
            return make_ssl_context(ca_file)
        except (OSError, ssl.SSLError) as exc:
            detail = printable_line(getattr(exc, "strerror", None) or str(exc))
            self.fail(FailureKind.TLS_OTHER, f"ca_file {str(ca_file)!r} cannot be used: {detail}")

    def password(self, source: PasswordSource) -> str:
        """The password, asked for only now that the connection is protected."""
        try:
            return credentials.checked(source)
        except SecretError as exc:
            self.fail(FailureKind.PASSWORD_UNAVAILABLE, str(exc))

    def wants_certificate(self, exc: BaseException) -> bool:
        """Would the server's certificate make the message for `exc` clearer?"""
        verification = _find_cause(exc, ssl.SSLCertVerificationError)
        return verification is not None and certificate_would_explain(verification)

    def failure(self, exc: BaseException, cert: PeerCert | None = None) -> ConnectError:
        """The ConnectError that explains `exc` (raised while connecting or logging in)."""
        tls_error = _find_cause(exc, ssl.SSLError)
        if tls_error is not None:
            message = describe_tls_error(tls_error, host=self.server.host, cert=cert)
            return self.error(tls_problem(tls_error), message)
        if (auth := self._auth_failure(exc)) is not None:
            return auth
        if (greeting := self._greeting_failure(exc)) is not None:
            return greeting
        if _find_cause(exc, ConnectionRefusedError) is not None:
            return self.error(
                FailureKind.REFUSED,
                f"connection refused by {self.where} — is the server running, "
                "and is the port right?",
            )
        if (dns := _find_cause(exc, socket.gaierror)) is not None:
            return self.error(
                FailureKind.DNS,
                f"cannot find the host {self.server.host!r} ({printable_line(dns.strerror or '')})"
                " — check the host name and the network",
            )
        if (timeout := _find_cause(exc, TimeoutError)) is not None:
            if isinstance(timeout, CommandTimeout):  # it says what was awaited, and how long
                return self.error(FailureKind.TIMEOUT, str(timeout))
            return self.error(FailureKind.TIMEOUT, self._timeout_message())
        if (os_error := _find_cause(exc, OSError)) is not None and not _is_a(
            os_error, "aiosmtplib", "SMTPException"
        ):
            reason = printable_line(os_error.strerror or str(os_error) or type(os_error).__name__)
            return self.error(FailureKind.NETWORK, f"network error with {self.where}: {reason}")
        return self.error(FailureKind.PROTOCOL_ERROR, self._protocol_message(exc))

    def _auth_failure(self, exc: BaseException) -> ConnectError | None:
        said: str | None = None
        if _is_a(exc, "imapclient.exceptions", "LoginError"):
            said = str(exc).removeprefix("login failed: ").removeprefix("authenticate failed: ")
            # imaplib hands over the server's text as bytes; show it, not its repr.
            if quoted := re.fullmatch(r"b(['\"])(.*)\1", said):
                said = quoted.group(2)
        elif _is_a(exc, "aiosmtplib", "SMTPAuthenticationError"):
            said = f"{exc.code} {exc.message}"  # type: ignore[attr-defined]
        elif isinstance(exc, poplib.error_proto) and self.step is _Step.LOGIN:
            said = _server_text(exc.args[0] if exc.args else b"")
            # RFC 3206: these codes say the password was fine but the mailbox is not available.
            if "[IN-USE]" in said or "[SYS/" in said:
                return self.error(
                    FailureKind.PROTOCOL_ERROR,
                    f"logged in, but the mailbox is not available now (server said: {said})",
                )
        if said is None:
            return None
        return self.error(
            FailureKind.AUTH_FAILED,
            f"wrong user name or password for {self.server.username!r} "
            f"(server said: {printable_line(said)})",
        )

    def _greeting_failure(self, exc: BaseException) -> ConnectError | None:
        """The error for a greeting that is not this protocol's, or that turns us away."""
        if self.step is not _Step.CONNECT:
            return None
        text: str | None
        if _is_a(exc, "imaplib", "IMAP4.error"):
            said = exc.args[0] if exc.args else None
            if said == "socket error: EOF":
                return None  # closed, not a greeting: said so by _protocol_message
            text = _imap_greeting_text(said)
            refused = text is not None and text.upper().startswith("* BYE")
        elif isinstance(exc, poplib.error_proto):
            said = exc.args[0] if exc.args else b""
            if said in ("-ERR EOF", b"-ERR EOF"):
                return None
            text = _server_text(said)
            refused = text.startswith("-ERR")
        elif _is_a(exc, "aiosmtplib", "SMTPResponseException"):
            code, message = exc.code, str(exc.message)  # type: ignore[attr-defined]
            refused = code >= 0  # aiosmtplib gives -1 for a line that is not an SMTP reply
            text = _server_text(
                f"{code} {message}" if refused else message.split(": ", 1)[-1], limit=200
            )
        else:
            return None
        if refused:
            message = f"the server turned the connection away (it said: {text})"
            return self.error(FailureKind.PROTOCOL_ERROR, message)
        article = "a" if self.server.protocol is Protocol.POP3 else "an"
        name = self.server.protocol.value.upper()
        detail = f" (it said: {text})" if text else ""
        return self.error(
            FailureKind.PROTOCOL_ERROR,
            f"the server did not greet as {article} {name} server should{detail}",
        )

    def _timeout_message(self) -> str:
        seconds = f"{self.timeout:g} s"
        if self.step is _Step.CONNECT:
            return f"timed out after {seconds} connecting to {self.where}"
        return f"timed out after {seconds} waiting for {self.where} to answer ({self.step})"

    def _protocol_message(self, exc: BaseException) -> str:
        if _is_a(exc, "aiosmtplib", "SMTPServerDisconnected") or _is_a(
            exc, "imaplib", "IMAP4.abort"
        ):
            return f"the server closed the connection while {self.step}"
        if _is_a(exc, "aiosmtplib", "SMTPResponseException"):
            text = f"{exc.code} {exc.message}"  # type: ignore[attr-defined]
        elif isinstance(exc, poplib.error_proto):
            text = _server_text(exc.args[0] if exc.args else b"")
        else:
            text = str(exc) or type(exc).__name__
        return f"unexpected answer while {self.step}: {printable_line(text)}"


def _imap_greeting_text(said: object) -> str | None:
    """The server's words from imaplib's complaint about a greeting, when it kept them."""
    if isinstance(said, bytes):
        return _server_text(said)
    if isinstance(said, str):
        # imaplib: "unexpected response: b'...'" (the line's repr).
        if quoted := re.fullmatch(r"unexpected response: b(['\"])(.*)\1", said):
            return printable_line(quoted.group(2))
        return printable_line(said)
    return None


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text or "\0" in text


def _is_a(exc: BaseException, module: str, name: str) -> bool:
    """isinstance(exc, module.name), without importing the module: an exception of a library
    that was never loaded cannot have been raised."""
    found: Any = sys.modules.get(module)
    for part in name.split("."):
        if found is None:
            return False
        found = getattr(found, part, None)
    return isinstance(found, type) and isinstance(exc, found)


def _find_cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """`exc` or the first exception it was raised from (or while handling) that is a `kind`."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        stack += [current.__cause__, current.__context__]
    return None


def _peer_cert(read: Callable[[ssl.SSLContext], PeerCert], ca_file: Path | None) -> PeerCert | None:
    """The server's certificate read over a throw-away connection, or None (only for messages)."""
    try:
        return read(make_inspection_context(ca_file))
    except Exception as exc:  # only used to improve an error message
        log.debug("could not read the server certificate: %r", exc)
        return None


def _server_text(text: str | bytes, limit: int = 200) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return printable_line(text, limit)
