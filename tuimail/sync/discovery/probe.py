"""Guessing an account's servers: the usual host names and ports of the domain, each probed.

Guesses are imap./pop3./pop./smtp./mail. and the domain itself, on the implicit TLS and STARTTLS
ports. A probe connects, reads the greeting and capabilities, and for STARTTLS does the upgrade,
all with certificate verification and a short timeout; it never logs in.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import imaplib
import poplib
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tuimail.config.discovered import ServerSetting
from tuimail.core.model import Protocol, Security
from tuimail.core.tls import describe_tls_error, make_ssl_context
from tuimail.sync.discovery.network import Network, os_problem
from tuimail.sync.imap import wire as imap_wire
from tuimail.sync.pop3.wire import Pop3Hooks
from tuimail.sync.smtp.connect import smtp_client_name
from tuimail.sync.smtp.wire import SmtplibSocketHooks

_GUESS_HOSTS = {
    Protocol.IMAP: ("imap.", "mail.", ""),
    Protocol.POP3: ("pop3.", "pop.", "mail.", ""),
    Protocol.SMTP: ("smtp.", "mail.", ""),
}
_GUESS_PORTS = {
    Protocol.IMAP: ((993, Security.TLS), (143, Security.STARTTLS)),
    Protocol.POP3: ((995, Security.TLS), (110, Security.STARTTLS)),
    Protocol.SMTP: ((465, Security.TLS), (587, Security.STARTTLS)),
}


def guess(
    address: str, domain: str, network: Network, report: Callable[[str], None]
) -> list[ServerSetting]:
    """Probe the usual host names and ports of `domain` at once: the settings that answered, in
    the order tried ([] when none did). `report` gets a line per server worth mentioning."""
    candidates = [
        ServerSetting(protocol, prefix + domain, port, security, address)
        for protocol, prefixes in _GUESS_HOSTS.items()
        for prefix in prefixes
        for port, security in _GUESS_PORTS[protocol]
    ]
    report(f"Guessing: probing {len(candidates)} host names and ports of {domain}")
    context = make_ssl_context(network.ca_file)
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(lambda c: probe(c, network, context), candidates))
    answered = [setting for setting, _ in outcomes if setting is not None]
    for candidate, (setting, problem) in zip(candidates, outcomes, strict=True):
        if setting is not None:
            report(f"  {setting.summary()}: answers")
        elif problem not in ("no such host", "connection refused", "timed out"):
            # Silent for names and ports that are simply not there; say why a server that
            # answered was not taken (a certificate problem, say).
            report(f"  {candidate.host}:{candidate.port}: {problem}")
    if not answered:
        report("Guessing: no server answered")
    return answered


class _Imap(imap_wire.SocketHooks, imaplib.IMAP4):
    network: Network

    def open_socket(self, timeout: float | None) -> socket.socket:
        """The probe's own dial."""
        return self.network.dial(self.host, self.port, timeout)


class _ImapTls(imap_wire.SocketHooks, imaplib.IMAP4_SSL):
    network: Network

    def open_socket(self, timeout: float | None) -> socket.socket:
        """The probe's own dial, wrapped in TLS."""
        sock = self.network.dial(self.host, self.port, timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class _Pop3(Pop3Hooks, poplib.POP3):
    network: Network

    def open_socket(self, timeout: float) -> socket.socket:
        """The probe's own dial."""
        return self.network.dial(self.host, self.port, timeout)


class _Pop3Tls(Pop3Hooks, poplib.POP3_SSL):
    network: Network

    def open_socket(self, timeout: float) -> socket.socket:
        """The probe's own dial, wrapped in TLS."""
        sock = self.network.dial(self.host, self.port, timeout)
        # POP3_SSL keeps its context in `context` (typeshed does not declare it).
        return self.context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _Smtp(SmtplibSocketHooks, smtplib.SMTP):
    network: Network

    def open_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        """The probe's own dial."""
        return self.network.dial(host, port, timeout)


class _SmtpTls(smtplib.SMTP_SSL, _Smtp):
    """SMTP_SSL wraps what `_Smtp.open_socket` dialled (its super() call lands there)."""


def _with_network(cls: type, network: Network) -> Any:
    return type(cls.__name__, (cls,), {"network": network})


def probe(
    candidate: ServerSetting, network: Network, context: ssl.SSLContext | None = None
) -> tuple[ServerSetting | None, str]:
    """Connect to a guessed server: read its greeting and capabilities, and for STARTTLS do the
    upgrade, all with a verified certificate. (the setting as it answered, "") or (None, why
    not). A STARTTLS port without STARTTLS gives the setting with security NONE, which
    `Autoconfig.choose` never picks silently. Never logs in and sends no credentials."""
    context = context or make_ssl_context(network.ca_file)
    timeout = network.probe_timeout
    host, port = candidate.host, candidate.port
    tls = candidate.security is Security.TLS
    try:
        match candidate.protocol:
            case Protocol.IMAP:
                if tls:
                    imap = _with_network(_ImapTls, network)(
                        host, port, ssl_context=context, timeout=timeout
                    )
                    upgraded = True
                else:
                    imap = _with_network(_Imap, network)(host, port, timeout=timeout)
                    upgraded = "STARTTLS" in imap.capabilities
                    if upgraded:
                        imap.starttls(context)
                _close(imap.shutdown)
            case Protocol.POP3:
                if tls:
                    pop = _with_network(_Pop3Tls, network)(
                        host, port, timeout=timeout, context=context
                    )
                    upgraded = True
                else:
                    pop = _with_network(_Pop3, network)(host, port, timeout=timeout)
                    upgraded = "STLS" in _pop3_capabilities(pop)
                    if upgraded:
                        pop.stls(context)
                _close(pop.close)
            case Protocol.SMTP:
                smtp_class = _SmtpTls if tls else _Smtp
                kwargs = {"context": context} if tls else {}
                smtp = _with_network(smtp_class, network)(
                    host, port, local_hostname="localhost", timeout=timeout, **kwargs
                )
                # The name the account's own sending gives (smtplib's constructor has to get
                # one before the connection's address is known).
                smtp.local_hostname = smtp_client_name(smtp.sock.getsockname())
                smtp.ehlo()
                upgraded = tls or smtp.has_extn("starttls")
                if upgraded and not tls:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                _close(smtp.close)
    except ssl.SSLError as exc:
        return None, describe_tls_error(exc, host=host)
    except TimeoutError:
        return None, "timed out"
    except socket.gaierror:
        return None, "no such host"
    except (OSError, imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException) as exc:
        return None, os_problem(exc)
    if not upgraded:
        return replace(candidate, security=Security.NONE), ""
    return candidate, ""


def _pop3_capabilities(pop: poplib.POP3) -> dict[str, list[str]]:
    try:
        return pop.capa()
    except poplib.error_proto:
        return {}


def _close(close: Callable[[], Any]) -> None:
    with contextlib.suppress(OSError):
        close()
