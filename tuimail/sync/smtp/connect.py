"""Connect and log in to an SMTP submission server: `connect_smtp()` (async) -> `aiosmtplib.SMTP`.

Implicit TLS or a required STARTTLS (plaintext after the 220 is refused), EHLO with the
configured name or `smtp_client_name()`, EHLO again after TLS, then one AUTH mechanism (PLAIN,
LOGIN or CRAM-MD5), or XOAUTH2 for OAuth2 accounts. Commands and replies are logged at DEBUG to
`tuimail.sync.wire.smtp` (`LoggingSMTP`), authentication data and message contents never. The
rules every connection keeps are in `tuimail.sync.connection`.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuimail.auth.credentials import PasswordSource, get_password
from tuimail.auth.sasl import (
    login_response,
    oauth_response,
    password_mechanism,
    plain_response,
)
from tuimail.config.schema import ServerConfig
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol, Security
from tuimail.core.tls import (
    make_inspection_context,
    printable_line,
)
from tuimail.sync.connection import (
    DEFAULT_TIMEOUT,
    Attempt,
    ConnectError,
    PeerCert,
    Step,
    oauth_tokens,
    server_text,
)

if TYPE_CHECKING:
    import aiosmtplib

    from tuimail.sync.session import EngineSession

# aiosmtplib and asyncio are imported by the helper that needs them: a POP3 fetch should not pay
# for loading the SMTP library (a noticeable part of a short run).

log = logging.getLogger(__name__)
smtp_wire = logging.getLogger("tuimail.sync.wire.smtp")


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
            smtp_wire.debug("< %d %s", response.code, server_text(response.message, limit=500))
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
        return server_text(b" ".join(args))
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

    attempt = Attempt(server, timeout)
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
        attempt.step = Step.CAPABILITIES
        if server.auth == "oauth2":
            await _oauth_login_smtp(smtp, server, password, attempt)
            return smtp
        mechanism = _smtp_mechanism(smtp, attempt)
        secret = await asyncio.to_thread(attempt.password, password)
        attempt.step = Step.LOGIN
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


def _smtp_mechanism(smtp: aiosmtplib.SMTP, attempt: Attempt) -> str:
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
    smtp: aiosmtplib.SMTP, server: ServerConfig, context: ssl.SSLContext | None, attempt: Attempt
) -> None:
    """Connect `smtp`, protect the connection (unless security is none), and EHLO."""
    import asyncio

    import aiosmtplib

    attempt.step = Step.CONNECT
    greeting = await smtp.connect()
    smtp_wire.debug("< %d %s", greeting.code, server_text(greeting.message))
    smtp.local_hostname = server.helo_name or await asyncio.to_thread(
        smtp_client_name, smtp.get_transport_info("sockname")
    )
    if server.security is Security.STARTTLS:
        attempt.step = Step.STARTTLS
        await smtp.ehlo()
        if not smtp.supports_extension("starttls"):
            attempt.starttls_missing("STARTTLS", Security.TLS)
        smtp_wire.debug("> STARTTLS")  # aiosmtplib sends this one past execute_command
        try:
            with _smtp_go_ahead_guard(smtp, attempt):
                response = await smtp.starttls(tls_context=context)
        except aiosmtplib.SMTPResponseException as exc:
            smtp_wire.debug("< %d %s", exc.code, server_text(exc.message))
            attempt.upgrade_refused("STARTTLS", f"{exc.code} {exc.message}")
        smtp_wire.debug("< %d %s", response.code, server_text(response.message))
    attempt.step = Step.CAPABILITIES
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
def _smtp_go_ahead_guard(smtp: aiosmtplib.SMTP, attempt: Attempt) -> Iterator[None]:
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
            await _open_smtp(smtp, server, context, Attempt(server, timeout))
            return smtp.get_transport_info("peercert")
        finally:
            smtp.close()
    except Exception as exc:  # only used to improve an error message
        log.debug("could not read the certificate of %s:%s: %r", server.host, server.port, exc)
        return None


async def _oauth_login_smtp(
    smtp: aiosmtplib.SMTP, server: ServerConfig, password: PasswordSource, attempt: Attempt
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
    tokens = oauth_tokens(password, attempt, "XOAUTH2")
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


async def smtp_for(
    session: EngineSession,
    password: Callable[[], str] | None = None,
    *,
    timeout: float | None = None,
) -> aiosmtplib.SMTP:
    """Connect and log in to the session's account's SMTP server, in the running asyncio loop.
    The connection lives in that loop: the engine ends it there (QUIT, then
    `session.close_client`); one left open is closed when the session ends."""
    account = session.account
    server = account.smtp
    assert server is not None
    options = {} if timeout is None else {"timeout": timeout}
    smtp = await connect_smtp(
        server,
        ca_file=account.ca_file,
        password=password or (lambda: get_password(account, Protocol.SMTP)),
        **options,
    )
    client: aiosmtplib.SMTP = session.connected(lambda: smtp, close=lambda client: client.close())
    return client
