"""Connect and log in to an IMAP server: `connect_imap()` -> `imapclient.IMAPClient`.

Implicit TLS or a required STARTTLS (a PREAUTH greeting on a connection still to be protected is
refused), then LOGIN, AUTHENTICATE PLAIN (LOGINDISABLED, or a non-ASCII user name or password)
or LOGIN in UTF-8 (UTF8=ACCEPT); OAUTHBEARER or XOAUTH2 for OAuth2 accounts; then COMPRESS
DEFLATE where offered (`tuimail.sync.imap.compress`), unless the account's `compress` is off (or
"auto", the default, and the connection is over loopback).
imapclient logs the conversation through its own loggers, hiding LOGIN and AUTHENTICATE
arguments. The rules every connection keeps are in `tuimail.sync.connection`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tuimail.auth.credentials import PasswordSource, get_password
from tuimail.auth.sasl import (
    SaslOnce,
    oauth_response,
    plain_response,
)
from tuimail.config.schema import ServerConfig
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol, Security
from tuimail.sync.connection import (
    Attempt,
    ConnectError,
    GuardedContext,
    PeerCert,
    Step,
    oauth_login_mechanism,
    oauth_tokens,
    peer_cert,
)
from tuimail.sync.deadline import IMAP_COMMAND, Deadline

if TYPE_CHECKING:
    import imapclient

    from tuimail.sync.session import EngineSession

# imapclient is imported by the helper that needs it: a POP3 fetch or an SMTP send should not pay
# for loading the IMAP library (a noticeable part of a short run).

log = logging.getLogger(__name__)


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
    attempt = Attempt(server, timeout)
    attempt.check_username()
    context = attempt.ssl_context(ca_file)
    client: imapclient.IMAPClient | None = None
    try:
        client = _open_imap(server, context, timeout, attempt)
        if _imap_preauth(client):
            # Already authenticated by the greeting; for STARTTLS _open_imap refused this.
            log.debug("IMAP %s:%s: PREAUTH greeting, no login needed", server.host, server.port)
            imap_ext.lift_pre_login_cap(client)
            _compress_imap(client, server, attempt)
            return client
        _login_imap(client, server, password, attempt)
        # Read the logged-in capabilities here, where a malformed answer is a ConnectError:
        # imapclient fails on some with AttributeError, and asks again (later, outside this
        # guard) while the list it has is empty.
        attempt.step = Step.CAPABILITIES
        if not client.capabilities():
            attempt.fail(FailureKind.PROTOCOL_ERROR, "the server announced no capabilities")
        imap_ext.lift_pre_login_cap(client)
        _compress_imap(client, server, attempt)
        return client
    except ConnectError:
        _shutdown_imap(client)
        raise
    except Exception as exc:
        _shutdown_imap(client)
        cert = None
        if attempt.wants_certificate(exc):
            cert = peer_cert(lambda ctx: _imap_peer_cert(server, ctx, timeout), ca_file)
        raise attempt.failure(exc, cert) from exc


def _open_imap(
    server: ServerConfig, context: ssl.SSLContext | None, timeout: float, attempt: Attempt
) -> imapclient.IMAPClient:
    """A connected, protected (unless security is none) client that has not logged in."""
    import imaplib

    from tuimail.sync.imap import extensions as imap_ext
    from tuimail.sync.imap import wire as imap_wire

    attempt.step = Step.CONNECT
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
            attempt.step = Step.STARTTLS
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
            guarded = GuardedContext(
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


def _compress_imap(client: imapclient.IMAPClient, server: ServerConfig, attempt: Attempt) -> None:
    """COMPRESS=DEFLATE (RFC 4978) where the server offers it, unless the account turned it
    off, or left it "auto" and the connection is over loopback: after login, as the RFC allows.

    Over loopback compressing saves nothing and costs both ends' CPU: a first sync of 10,000
    messages with their bodies took twice as long compressed (the server's deflate). A tunnel
    to a distant server over loopback is the case for `compress = true`."""
    if server.compress is False:
        return
    if server.compress == "auto" and _over_loopback(client):
        log.debug("IMAP %s:%s: over loopback, not compressed", server.host, server.port)
        return
    from tuimail.sync.imap import compress as imap_compress

    attempt.step = Step.COMPRESS
    if imap_compress.start_compression(client):
        log.debug("IMAP %s:%s: compressed (COMPRESS=DEFLATE)", server.host, server.port)


def _over_loopback(client: imapclient.IMAPClient) -> bool:
    """Whether the client's socket is connected to a loopback address."""
    try:
        peer = client.socket().getpeername()[0]
        return ipaddress.ip_address(peer.split("%")[0]).is_loopback
    except (OSError, ValueError, AttributeError, IndexError):
        return False


def _imap_preauth(client: imapclient.IMAPClient) -> bool:
    return client.welcome.upper().startswith(b"* PREAUTH")


def _login_imap(
    client: imapclient.IMAPClient,
    server: ServerConfig,
    password: PasswordSource,
    attempt: Attempt,
) -> None:
    attempt.step = Step.CAPABILITIES
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
    attempt.step = Step.LOGIN
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
    client = _open_imap(server, context, timeout, Attempt(server, timeout))
    try:
        return client.socket().getpeercert()
    finally:
        _shutdown_imap(client)


def _oauth_login_imap(
    client: imapclient.IMAPClient,
    server: ServerConfig,
    password: PasswordSource,
    attempt: Attempt,
    capabilities: Iterable[bytes],
) -> None:
    import imapclient

    offered = [
        c.decode("ascii", "replace")[5:] for c in capabilities if c.upper().startswith(b"AUTH=")
    ]
    mechanism = oauth_login_mechanism(offered, attempt)
    for token, refused in oauth_tokens(password, attempt, mechanism):
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


def imap_for(
    session: EngineSession,
    password: Callable[[], str] | None = None,
    *,
    timeout: float | None = None,
) -> imapclient.IMAPClient:
    """Connect and log in to the session's account's IMAP server, logged out when the session
    ends; the password from `password`, else the account's credentials; `timeout`: the
    server's, unless given."""
    from tuimail.sync.imap.extensions import logout_quietly  # imports imapclient

    account = session.account
    server = account.incoming
    assert server is not None and server.protocol is Protocol.IMAP
    options = {} if timeout is None else {"timeout": timeout}
    client: imapclient.IMAPClient = session.connected(
        lambda: connect_imap(
            server,
            ca_file=account.ca_file,
            password=password or (lambda: get_password(account, Protocol.IMAP)),
            **options,
        ),
        close=logout_quietly,
    )
    return client
