"""Opening authenticated IMAP, POP3 and SMTP connections: the one way every engine does it.

Each protocol's package has one helper, in its `connect` module; it takes the server's settings,
the account's extra CA file, a `password` callable and a timeout that bounds every socket
operation, and returns a logged-in client:

- `tuimail.sync.imap.connect.connect_imap()` -> `imapclient.IMAPClient`
- `tuimail.sync.pop3.connect.connect_pop3()` -> `poplib.POP3`
- `tuimail.sync.smtp.connect.connect_smtp()` (async) -> `aiosmtplib.SMTP`

This module holds what they share:

- `ConnectError`: the one exception of every connect helper, with a `FailureKind` and a message
  in plain words; `Attempt.failure()` turns whatever a library raised into it (TLS, refused,
  DNS, timeout, a wrong password, a greeting that is not the protocol's).
- `Attempt`: where the attempt is (`Step`), the checks before anything is sent (user name,
  SSL context) and the secret, read through `tuimail.auth.credentials` only once the
  connection is protected.
- `GuardedContext`: refuses a STARTTLS/STLS upgrade when plaintext follows the go-ahead.
- `oauth_tokens()`: the OAuth2 token to try, and once more a refreshed one after a refusal.
- `peer_cert()` reads a server's certificate to explain a TLS failure; `server_text()` cuts
  untrusted server text to one printable line.

The secret comes from `tuimail.auth.credentials`, the SASL strings from `tuimail.auth.sasl`.

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
  AUTH strings sent are registered with `tuimail.core.log` for redaction as well.
"""

from __future__ import annotations

import enum
import io
import logging
import re
import socket
import ssl
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from tuimail.auth import credentials
from tuimail.auth.credentials import PasswordSource
from tuimail.auth.sasl import oauth_mechanism
from tuimail.auth.secrets import SecretError
from tuimail.config.schema import DEFAULT_PORTS, ServerConfig
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
from tuimail.sync.deadline import CommandTimeout

log = logging.getLogger(__name__)

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


class Step(enum.StrEnum):
    """What was going on when something failed (for timeout messages and logs)."""

    CONNECT = "connecting"
    STARTTLS = "starting TLS"
    CAPABILITIES = "asking for capabilities"
    LOGIN = "logging in"
    COMPRESS = "starting compression"


class Attempt:
    """One connection attempt: where it is, and how its failures are put into words."""

    def __init__(self, server: ServerConfig, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self.step = Step.CONNECT

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
        elif _is_a(exc, "poplib", "error_proto") and self.step is Step.LOGIN:
            said = server_text(exc.args[0] if exc.args else b"")
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
        if self.step is not Step.CONNECT:
            return None
        text: str | None
        if _is_a(exc, "imaplib", "IMAP4.error"):
            said = exc.args[0] if exc.args else None
            if said == "socket error: EOF":
                return None  # closed, not a greeting: said so by _protocol_message
            text = _imap_greeting_text(said)
            refused = text is not None and text.upper().startswith("* BYE")
        elif _is_a(exc, "poplib", "error_proto"):
            said = exc.args[0] if exc.args else b""
            if said in ("-ERR EOF", b"-ERR EOF"):
                return None
            text = server_text(said)
            refused = text.startswith("-ERR")
        elif _is_a(exc, "aiosmtplib", "SMTPResponseException"):
            code, message = exc.code, str(exc.message)  # type: ignore[attr-defined]
            refused = code >= 0  # aiosmtplib gives -1 for a line that is not an SMTP reply
            text = server_text(
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
        if self.step is Step.CONNECT:
            return f"timed out after {seconds} connecting to {self.where}"
        return f"timed out after {seconds} waiting for {self.where} to answer ({self.step})"

    def _protocol_message(self, exc: BaseException) -> str:
        if _is_a(exc, "aiosmtplib", "SMTPServerDisconnected") or _is_a(
            exc, "imaplib", "IMAP4.abort"
        ):
            return f"the server closed the connection while {self.step}"
        if _is_a(exc, "aiosmtplib", "SMTPResponseException"):
            text = f"{exc.code} {exc.message}"  # type: ignore[attr-defined]
        elif _is_a(exc, "poplib", "error_proto"):
            text = server_text(exc.args[0] if exc.args else b"")
        else:
            text = str(exc) or type(exc).__name__
        return f"unexpected answer while {self.step}: {printable_line(text)}"


class GuardedContext:
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
        attempt: Attempt,
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


def _oauth_refused(attempt: Attempt, mechanism: str, said: str) -> NoReturn:
    attempt.fail(
        FailureKind.AUTH_FAILED,
        f"the server refused the OAuth2 access token for {attempt.server.username!r} "
        f"({mechanism}; {printable_line(said)}); if this goes on, run "
        "`tuimail accounts authorize` for the account again",
    )


def oauth_tokens(
    password: PasswordSource, attempt: Attempt, mechanism: str
) -> Iterator[tuple[str, Callable[[str], None]]]:
    """The tokens to try: the current one, and once more a refreshed one after a refusal.

    Yields (token, refused) pairs; the caller calls `refused(server_text)` when the server said
    no, which drops the token from the cache (the next one is refreshed) or, the second time,
    ends the attempt with AUTH_FAILED.
    """
    for last in (False, True):
        token = attempt.password(password)
        attempt.step = Step.LOGIN

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


def oauth_login_mechanism(offered: Iterable[str], attempt: Attempt) -> str:
    """OAUTHBEARER (RFC 7628) when offered, else XOAUTH2; PROTOCOL_ERROR when neither is."""
    mechanism = oauth_mechanism(offered)
    if mechanism is not None:
        return mechanism
    attempt.fail(
        FailureKind.PROTOCOL_ERROR,
        "the server offers no OAuth2 login (neither OAUTHBEARER nor XOAUTH2) on this connection",
    )


def _imap_greeting_text(said: object) -> str | None:
    """The server's words from imaplib's complaint about a greeting, when it kept them."""
    if isinstance(said, bytes):
        return server_text(said)
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


def peer_cert(read: Callable[[ssl.SSLContext], PeerCert], ca_file: Path | None) -> PeerCert | None:
    """The server's certificate read over a throw-away connection, or None (only for messages)."""
    try:
        return read(make_inspection_context(ca_file))
    except Exception as exc:  # only used to improve an error message
        log.debug("could not read the server certificate: %r", exc)
        return None


def server_text(text: str | bytes, limit: int = 200) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return printable_line(text, limit)
