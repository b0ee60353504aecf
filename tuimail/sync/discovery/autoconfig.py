"""Find an account's server settings from its address, the way Thunderbird does.

For alice@example.com the sources are tried in Thunderbird's order, and the first that answers
wins:

1. the provider's own file: ``https://autoconfig.example.com/mail/config-v1.1.xml`` and
   ``https://example.com/.well-known/autoconfig/mail/config-v1.1.xml`` (both with
   ``?emailaddress=``), then the same two over plain ``http://`` (without the address; a result
   from there is marked as fetched insecurely, since anyone on the way could have changed it);
2. the Thunderbird ISPDB, ``https://autoconfig.thunderbird.net/v1.1/example.com``;
3. the domain's MX host: its registrable domain (aspmx.l.google.com -> google.com) in the ISPDB;
4. guesses (imap./pop3./pop./smtp./mail. and the domain itself, implicit TLS and STARTTLS ports),
   each probed: connect, read the greeting and capabilities, and for STARTTLS do the upgrade,
   all with certificate verification and a short timeout.

The files are Thunderbird's clientConfig v1.1 XML. Any DOCTYPE is refused before parsing (no
entity expansion, so no "billion laughs"); every fetch has a time limit, a size cap, verified
certificates and at most three redirects, never from https to http.

Ranking: a setting tuimail can log in to (a password) comes first, then implicit TLS before
STARTTLS before plaintext, IMAP before POP3, then the file's order. A plaintext setting is never
chosen silently: `choose(allow_plaintext=False)` leaves it out with a warning, and the caller
asks for an explicit choice. OAuth2 is recorded as a hint (tuimail signs in with passwords).

Everything that reaches the network goes through `Network`, so tests can point the well-known
host names at loopback servers and answer DNS from a local resolver.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import enum
import http.client
import imaplib
import poplib
import re
import smtplib
import socket
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat

from tuimail import __version__
from tuimail.config.settings import ACCOUNT_NAME_RE, Config, ConfigError, account_toml, add_account
from tuimail.core.model import Protocol, Security
from tuimail.core.tls import describe_tls_error, make_ssl_context
from tuimail.mail.idn import AddressEncodingError, ascii_domain
from tuimail.mail.sanitize import sanitize_line
from tuimail.sync.connect.smtp import smtp_client_name
from tuimail.sync.imap import wire as imap_wire
from tuimail.sync.pop3.wire import Pop3Hooks
from tuimail.sync.smtp.wire import SmtplibSocketHooks

ISPDB_URL = "https://autoconfig.thunderbird.net/v1.1/"
MAX_CONFIG_BYTES = 256 * 1024  # real files are a few kilobytes
MAX_REDIRECTS = 3
MAX_SERVERS = 16  # per kind, per file
FETCH_TIMEOUT = 10.0  # seconds for one file, redirects included
PROBE_TIMEOUT = 5.0  # seconds for one guessed server

# Authentication values (clientConfig v1.1) that mean "log in with the password", which is
# what tuimail does (over TLS). "plain" is an old synonym still found in some files.
PASSWORD_AUTH = frozenset({"password-cleartext", "plain"})
OAUTH2 = "OAuth2"
_SOCKET_TYPES = {"SSL": Security.TLS, "STARTTLS": Security.STARTTLS, "plain": Security.NONE}
_SECURITY_RANK = {Security.TLS: 0, Security.STARTTLS: 1, Security.NONE: 2}
_PROTOCOL_RANK = {Protocol.IMAP: 0, Protocol.POP3: 1, Protocol.SMTP: 0}
_LABEL_RE = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
# Second-level labels under a two-letter country code that are public suffixes themselves
# (co.uk, com.au, ne.jp, ...): a small stand-in for the public suffix list, enough to turn an MX
# host into the provider's domain.
_SECOND_LEVEL_SUFFIXES = frozenset(
    {"ac", "co", "com", "edu", "gov", "gv", "go", "ne", "net", "or", "org"}
)


class AutoconfigError(Exception):
    """The address cannot be looked up (it is not an address), or a file is unusable."""


class SourceKind(enum.StrEnum):
    """Where settings came from."""

    ISP = "the provider's autoconfig server"
    WELL_KNOWN = "the domain's well-known autoconfig address"
    ISPDB = "the Thunderbird ISPDB"
    MX = "the Thunderbird ISPDB, for the domain of the mail (MX) server"
    GUESS = "guessed and probed"


def _connect_directly(host: str, port: int) -> tuple[str, int]:
    return host, port


@dataclass(frozen=True, slots=True)
class Network:
    """How a lookup reaches the world.

    `connect_to(host, port)` says where to open a TCP connection for a name and port (TLS still
    checks the certificate against the name); `mx_lookup(domain)` gives the MX host names, best
    first (default: the system's DNS resolver through dnspython).
    """

    connect_to: Callable[[str, int], tuple[str, int]] = _connect_directly
    mx_lookup: Callable[[str], list[str]] | None = None
    ca_file: Path | None = None
    ispdb_url: str = ISPDB_URL
    fetch_timeout: float = FETCH_TIMEOUT
    probe_timeout: float = PROBE_TIMEOUT

    def dial(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A TCP connection for `host`:`port` (through `connect_to`)."""
        return socket.create_connection(self.connect_to(host, port), timeout)


@dataclass(frozen=True, slots=True)
class ServerSetting:
    """One server a source offers, placeholders already replaced."""

    protocol: Protocol
    host: str
    port: int
    security: Security
    username: str
    authentication: tuple[str, ...] = ("password-cleartext",)

    @property
    def password_login(self) -> bool:
        """Whether tuimail can log in here (with a password)."""
        return any(a in PASSWORD_AUTH for a in self.authentication)

    @property
    def oauth2(self) -> bool:
        """Whether the provider offers OAuth2 sign-in here."""
        return OAUTH2 in self.authentication

    def summary(self) -> str:
        """One line: protocol, host:port, security, user name (all validated or sanitized)."""
        security = {
            Security.TLS: "TLS",
            Security.STARTTLS: "STARTTLS",
            Security.NONE: "UNENCRYPTED",
        }[self.security]
        return (
            f"{self.protocol.value.upper():<4} {self.host}:{self.port} {security}, "
            f"user {sanitize_line(self.username)}"
        )


@dataclass(frozen=True, slots=True)
class Autoconfig:
    """What a lookup found for an address: ranked servers, where from, and what was tried."""

    address: str
    source: SourceKind | None = None
    source_url: str = ""
    insecure_source: bool = False  # fetched over plain http
    provider: str = ""  # the file's displayName, sanitized
    incoming: tuple[ServerSetting, ...] = ()
    outgoing: tuple[ServerSetting, ...] = ()
    tried: tuple[str, ...] = ()  # one line per source, what it gave

    @property
    def found(self) -> bool:
        """Whether any server was found."""
        return bool(self.incoming or self.outgoing)

    def choose(self, *, allow_plaintext: bool = False) -> Choice:
        """The settings to use, with the warnings to show the user."""
        warnings: list[str] = []
        if self.insecure_source:
            warnings.append(
                f"These settings were fetched over unencrypted HTTP ({self.source_url}): anyone "
                "on the network could have changed them. Check the server names before saving."
            )
        incoming, needs_in = _pick(self.incoming, "incoming", allow_plaintext, warnings)
        smtp, needs_out = _pick(self.outgoing, "outgoing", allow_plaintext, warnings)
        if any(s.oauth2 for s in (incoming, smtp) if s is not None):
            warnings.append(
                'The provider also offers OAuth2 sign-in (auth = "oauth2"); for the password '
                "login it may want an app password."
            )
        return Choice(incoming, smtp, tuple(warnings), needs_in or needs_out)

    def describe(self) -> list[str]:
        """Lines saying where the settings came from and every server found, ranked."""
        if not self.found:
            return ["No settings were found."]
        origin = self.source.value if self.source else "unknown"
        if self.source_url:
            origin += f" ({sanitize_line(self.source_url)})"
        lines = [f"Found in {origin}" + (f": {self.provider}" if self.provider else "")]
        for setting in (*self.incoming, *self.outgoing):
            notes = []
            if setting.security is Security.NONE:
                notes.append("password and mail unencrypted")
            if not setting.password_login:
                notes.append("no password login (" + ", ".join(setting.authentication) + ")")
            lines.append(f"  {setting.summary()}" + (f"  [{'; '.join(notes)}]" if notes else ""))
        return [sanitize_line(line) for line in lines]


@dataclass(frozen=True, slots=True)
class Choice:
    """The chosen incoming and outgoing servers (either may be None) and the warnings."""

    incoming: ServerSetting | None
    smtp: ServerSetting | None
    warnings: tuple[str, ...] = ()
    plaintext_withheld: bool = False  # a plaintext setting exists and was not chosen


def _pick(
    ranked: Sequence[ServerSetting], kind: str, allow_plaintext: bool, warnings: list[str]
) -> tuple[ServerSetting | None, bool]:
    usable = [s for s in ranked if s.password_login]
    encrypted = [s for s in usable if s.security is not Security.NONE]
    if encrypted:
        return encrypted[0], False
    if usable:
        plain = usable[0]
        where = f"{plain.host}:{plain.port}"
        if allow_plaintext:
            warnings.append(
                f"The {kind} server {where} is UNENCRYPTED: your password and mail cross the "
                "network readable by anyone on the way."
            )
            return plain, False
        warnings.append(
            f"Only an unencrypted {kind} server was found ({where}): it was not chosen, since "
            "your password and mail would cross the network readable. Choose it explicitly "
            "only if you trust every network in between."
        )
        return None, True
    if ranked:
        methods = ", ".join(sorted({a for s in ranked for a in s.authentication}))
        warnings.append(
            f"The {kind} servers found accept only {methods} sign-in, which tuimail does not do "
            "yet."
        )
    return None, False


def rank(settings: Iterable[ServerSetting]) -> tuple[ServerSetting, ...]:
    """Password login first, then implicit TLS, STARTTLS, plaintext; IMAP before POP3; then the
    given order."""
    indexed = list(enumerate(settings))
    indexed.sort(
        key=lambda item: (
            not item[1].password_login,
            _SECURITY_RANK[item[1].security],
            _PROTOCOL_RANK[item[1].protocol],
            item[0],
        )
    )
    return tuple(setting for _, setting in indexed)


# --- the address -----------------------------------------------------------------------------


def split_address(address: str) -> tuple[str, str]:
    """(local part, domain in lower-case ASCII) of an address; AutoconfigError if it is not one."""
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or any(c.isspace() or ord(c) < 32 or c in '<>,"\\' for c in text):
        raise AutoconfigError(
            f"{sanitize_line(text)!r} is not an email address like alice@example.org"
        )
    host = valid_host(domain)
    if host is None:
        raise AutoconfigError(f"{sanitize_line(domain)!r} is not a domain name")
    return local, host


def valid_host(name: str) -> str | None:
    """`name` as a lower-case ASCII host name (IDNA 2008, as in the envelope of what is sent),
    or None when it is not a host name."""
    text = name.strip().rstrip(".").lower()
    try:
        text = ascii_domain(text)
    except AddressEncodingError:
        return None
    labels = text.split(".")
    if not text or len(text) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        return None
    return text


def registrable_domain(host: str) -> str:
    """The provider's domain of a host name: aspmx.l.google.com -> google.com,
    mx.example.co.uk -> example.co.uk (an approximation of the public suffix list)."""
    labels = host.rstrip(".").lower().split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL_SUFFIXES:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


# --- clientConfig XML ------------------------------------------------------------------------


def _refuse_declarations(data: bytes) -> None:
    """Refuse any DOCTYPE or entity declaration before ElementTree (which expands internal
    entities) sees the text; also refuses text that is not well-formed XML."""

    def refuse(*_: Any) -> None:
        raise AutoconfigError("the file declares a DOCTYPE or entities, which are refused")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise AutoconfigError(f"the file is not well-formed XML ({exc})") from None


def parse_client_config(data: bytes, address: str) -> tuple[str, list[ServerSetting], list[str]]:
    """Parse a clientConfig v1.1 file for `address`: (provider's display name, servers in the
    file's order, notes on entries left out). Raises AutoconfigError for an unusable file."""
    _refuse_declarations(data)
    root = ET.fromstring(data)  # noqa: S314 -- declarations refused above
    if root.tag != "clientConfig":
        raise AutoconfigError(f"the file is not a clientConfig file (root <{root.tag[:40]}>)")
    provider = root.find("emailProvider")
    if provider is None:
        raise AutoconfigError("the file has no <emailProvider>")
    local, domain = split_address(address)
    values = {"%EMAILADDRESS%": address, "%EMAILLOCALPART%": local, "%EMAILDOMAIN%": domain}
    settings: list[ServerSetting] = []
    notes: list[str] = []
    for tag, protocols in (("incomingServer", ("imap", "pop3")), ("outgoingServer", ("smtp",))):
        for element in provider.findall(tag)[:MAX_SERVERS]:
            kind = element.get("type", "")
            if kind not in protocols:
                notes.append(f"a {sanitize_line(kind[:20]) or 'typeless'} server is not supported")
                continue
            try:
                settings.append(_server(element, Protocol(kind), values))
            except AutoconfigError as exc:
                notes.append(f"a {kind} entry was left out: {exc}")
    name = sanitize_line(_text(provider, "displayName") or provider.get("id", ""))[:80]
    return name, settings, notes


def _text(element: ET.Element, tag: str) -> str:
    found = element.find(tag)
    return (found.text or "").strip() if found is not None else ""


def _substitute(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def _server(element: ET.Element, protocol: Protocol, values: dict[str, str]) -> ServerSetting:
    raw_host = _substitute(_text(element, "hostname"), values)
    host = valid_host(raw_host)
    if host is None:
        raise AutoconfigError(f"{sanitize_line(raw_host[:80])!r} is not a host name")
    port_text = _text(element, "port")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise AutoconfigError(f"{sanitize_line(port_text[:20])!r} is not a port")
    socket_type = _text(element, "socketType")
    if socket_type not in _SOCKET_TYPES:
        raise AutoconfigError(f"unknown socketType {sanitize_line(socket_type[:20])!r}")
    username = _substitute(_text(element, "username") or "%EMAILADDRESS%", values)
    if not username or any(ord(c) < 32 or ord(c) == 127 for c in username):
        raise AutoconfigError("the user name is empty or holds control characters")
    methods = tuple(
        (a.text or "").strip()[:40] for a in element.findall("authentication") if a.text
    ) or ("password-cleartext",)
    return ServerSetting(
        protocol, host, int(port_text), _SOCKET_TYPES[socket_type], username, methods
    )


# --- fetching --------------------------------------------------------------------------------


class FetchError(Exception):
    """A file could not be fetched; the message says why, in a few words."""


class _HttpConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, timeout: float, network: Network) -> None:
        super().__init__(host, port, timeout=timeout)
        self._network = network

    def connect(self) -> None:
        self.sock = self._network.dial(self.host, self.port, self.timeout)


class _HttpsConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, timeout: float, network: Network, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._network = network
        self._verifying_context = context

    def connect(self) -> None:
        sock = self._network.dial(self.host, self.port, self.timeout)
        self.sock = self._verifying_context.wrap_socket(sock, server_hostname=self.host)


def fetch(url: str, network: Network) -> bytes:
    """GET `url` (http or https): the body of a 200 answer, within the time and size limits and
    after at most MAX_REDIRECTS redirects (never from https to http). Raises FetchError."""
    deadline = time.monotonic() + network.fetch_timeout
    context: ssl.SSLContext | None = None
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("timed out")
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            context = context or make_ssl_context(network.ca_file)
            connection = _HttpsConnection(host, parts.port or 443, remaining, network, context)
        elif parts.scheme == "http":
            connection = _HttpConnection(host, parts.port or 80, remaining, network)
        else:
            raise FetchError(f"unsupported address {sanitize_line(url[:100])!r}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(
                "GET",
                target,
                headers={"User-Agent": f"tuimail/{__version__}", "Accept": "text/xml, */*"},
            )
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location", "")
                following = urllib.parse.urljoin(url, location)
                if not location or urllib.parse.urlsplit(following).scheme not in ("http", "https"):
                    raise FetchError(f"a redirect without a usable address ({response.status})")
                if parts.scheme == "https" and not following.startswith("https:"):
                    raise FetchError("a redirect from https to unencrypted http was refused")
                url = following
                continue
            if response.status != 200:
                reason = "not found" if response.status == 404 else "answered"
                raise FetchError(f"{reason} (HTTP {response.status})")
            return _read_limited(response, deadline)
        except FetchError:
            raise
        except ssl.SSLError as exc:
            raise FetchError(describe_tls_error(exc, host=host)) from None
        except TimeoutError:
            raise FetchError("timed out") from None
        except socket.gaierror:
            raise FetchError("no such host") from None
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(_os_problem(exc)) from None
        finally:
            connection.close()
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _read_limited(response: http.client.HTTPResponse, deadline: float) -> bytes:
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > MAX_CONFIG_BYTES:
        raise FetchError(f"the answer is too large ({length} bytes)")
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(16384):
        size += len(chunk)
        if size > MAX_CONFIG_BYTES:
            raise FetchError(f"the answer is too large (over {MAX_CONFIG_BYTES} bytes)")
        if time.monotonic() > deadline:
            raise FetchError("timed out")
        chunks.append(chunk)
    return b"".join(chunks)


def _os_problem(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return sanitize_line(str(text))[:120]


# --- the lookup ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    kind: SourceKind
    url: str

    @property
    def insecure(self) -> bool:
        return self.url.startswith("http:")


def candidate_urls(address: str, network: Network | None = None) -> list[_Candidate]:
    """The files to try for `address`, best first (Thunderbird's order)."""
    network = network or Network()
    _, domain = split_address(address)
    query = urllib.parse.urlencode({"emailaddress": address.strip()})
    isp = f"autoconfig.{domain}/mail/config-v1.1.xml"
    well_known = f"{domain}/.well-known/autoconfig/mail/config-v1.1.xml"
    return [
        _Candidate(SourceKind.ISP, f"https://{isp}?{query}"),
        _Candidate(SourceKind.WELL_KNOWN, f"https://{well_known}?{query}"),
        # Over plain http the address is not sent: anyone on the way could read it.
        _Candidate(SourceKind.ISP, f"http://{isp}"),
        _Candidate(SourceKind.WELL_KNOWN, f"http://{well_known}"),
        _Candidate(SourceKind.ISPDB, network.ispdb_url + domain),
    ]


def lookup(
    address: str,
    network: Network | None = None,
    progress: Callable[[str], None] = lambda line: None,
    *,
    guess: bool = True,
) -> Autoconfig:
    """Find the settings for `address` (see the module's docstring for the order). `progress` is
    called with one line per source, in the calling thread. Raises AutoconfigError only when the
    address is not one; a lookup that finds nothing returns an Autoconfig with `found` False."""
    network = network or Network()
    address = address.strip()
    _, domain = split_address(address)
    try:
        make_ssl_context(network.ca_file)
    except OSError as exc:  # ssl.SSLError too: not a certificate file
        raise AutoconfigError(f"the CA file {network.ca_file} cannot be used: {exc}") from None
    tried: list[str] = []

    def report(line: str) -> None:
        line = sanitize_line(line)
        tried.append(line)
        progress(line)

    found = _first_file(address, candidate_urls(address, network), network, report)
    if found is None:
        found = _via_mx(address, domain, network, report)
    if found is None and guess:
        found = _guess(address, domain, network, report)
    result = found or Autoconfig(address)
    return replace(result, tried=tuple(tried))


def _first_file(
    address: str,
    candidates: Sequence[_Candidate],
    network: Network,
    report: Callable[[str], None],
) -> Autoconfig | None:
    """Fetch every candidate at once; the best one that gives a usable file wins."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(candidates) or 1)
    try:
        futures = [pool.submit(fetch, c.url, network) for c in candidates]
        for candidate, future in zip(candidates, futures, strict=True):
            shown = candidate.url.split("?", 1)[0]
            try:
                data = future.result()
                provider, servers, notes = parse_client_config(data, address)
            except (FetchError, AutoconfigError) as exc:
                report(f"{shown}: {exc}")
                continue
            except ET.ParseError as exc:
                report(f"{shown}: not a usable file ({exc})")
                continue
            for note in notes:
                report(f"{shown}: {note}")
            if not servers:
                report(f"{shown}: no usable server in the file")
                continue
            report(
                f"{shown}: found"
                + (" (fetched over unencrypted HTTP)" if candidate.insecure else "")
            )
            return _result(address, candidate.kind, shown, candidate.insecure, provider, servers)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return None


def _result(
    address: str,
    kind: SourceKind,
    url: str,
    insecure: bool,
    provider: str,
    servers: Iterable[ServerSetting],
) -> Autoconfig:
    servers = list(servers)
    return Autoconfig(
        address=address,
        source=kind,
        source_url=url,
        insecure_source=insecure,
        provider=provider,
        incoming=rank(s for s in servers if s.protocol is not Protocol.SMTP),
        outgoing=rank(s for s in servers if s.protocol is Protocol.SMTP),
    )


def mx_hosts(
    domain: str,
    *,
    nameservers: Sequence[str] | None = None,
    port: int = 53,
    timeout: float = 5.0,
) -> list[str]:
    """The MX host names of `domain`, best (lowest preference) first; [] when there are none.
    Uses the system's resolver configuration unless `nameservers` is given."""
    import dns.exception
    import dns.resolver

    try:
        resolver = dns.resolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            resolver.nameservers = list(nameservers)
            resolver.port = port
        resolver.lifetime = timeout
        answer = resolver.resolve(domain, "MX")
    except (dns.exception.DNSException, OSError):
        return []
    records = sorted(answer, key=lambda r: r.preference)
    hosts = [str(r.exchange).rstrip(".").lower() for r in records]
    return [h for h in hosts if h]  # "." means "no mail here" (RFC 7505)


def _via_mx(
    address: str, domain: str, network: Network, report: Callable[[str], None]
) -> Autoconfig | None:
    lookup_mx = network.mx_lookup or mx_hosts
    hosts = [h for h in (valid_host(h) for h in lookup_mx(domain)) if h]
    if not hosts:
        report(f"MX of {domain}: none found")
        return None
    base = registrable_domain(hosts[0])
    if base == domain:
        report(f"MX of {domain}: {hosts[0]}, in the same domain (ISPDB already asked)")
        return None
    report(f"MX of {domain}: {hosts[0]}, so asking the ISPDB for {base}")
    found = _first_file(
        address, [_Candidate(SourceKind.MX, network.ispdb_url + base)], network, report
    )
    return found


# --- guesses, probed -------------------------------------------------------------------------

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


def _guess(
    address: str, domain: str, network: Network, report: Callable[[str], None]
) -> Autoconfig | None:
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
        return None
    return _result(address, SourceKind.GUESS, "", False, "", answered)


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
        return None, _os_problem(exc)
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


# --- writing the account ---------------------------------------------------------------------


def account_name_for(address: str, taken: Iterable[str]) -> str:
    """A free account name from the address's domain: example.com -> example (example-2, ...)."""
    _, domain = split_address(address)
    base = re.sub(r"[^A-Za-z0-9_-]", "-", domain.split(".")[0]) or "mail"
    taken = set(taken)
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def account_text(
    name: str,
    address: str,
    choice: Choice,
    *,
    display_name: str = "",
    ca_file: Path | None = None,
) -> str:
    """The TOML of the account a choice describes (for `config.add_account`)."""
    settings: dict[str, str | int | bool] = {"address": address}
    if display_name:
        settings["display_name"] = display_name
    if ca_file is not None:
        settings["ca_file"] = str(ca_file)
    servers: dict[str, dict[str, Any]] = {}
    for setting in (choice.incoming, choice.smtp):
        if setting is not None:
            servers[setting.protocol.value] = {
                "host": setting.host,
                "port": setting.port,
                "security": setting.security.value,
                "username": setting.username,
            }
    return account_toml(name, settings, servers)


@dataclass
class AddOptions:
    """What `tuimail accounts add` was asked to do."""

    address: str
    config_path: Path
    config: Config
    name: str | None = None
    display_name: str = ""
    allow_plaintext: bool = False
    confirm: Callable[[str], bool] | None = None  # None: no way to ask (and no --yes)
    network: Network = field(default_factory=Network)


def add_command(options: AddOptions, out: IO[str], err: IO[str]) -> tuple[int, str | None]:
    """`tuimail accounts add`: look up, show, confirm, write. (exit status, the name of the
    account written, or None when nothing was written)."""
    try:
        split_address(options.address)
    except AutoconfigError as exc:
        print(f"tuimail: error: {exc}", file=err)
        return 2, None
    if options.name is not None and not ACCOUNT_NAME_RE.match(options.name):
        print("tuimail: error: account names may use only letters, digits, '-' and '_'", file=err)
        return 2, None
    if options.name is not None and options.name in options.config.accounts:
        print(f"tuimail: error: an account named {options.name!r} exists already", file=err)
        return 2, None
    print(f"Looking up the settings for {sanitize_line(options.address)}…", file=err)
    try:
        result = lookup(options.address, options.network, lambda line: print(f"  {line}", file=err))
    except AutoconfigError as exc:
        print(f"tuimail: error: {exc}", file=err)
        return 2, None
    if not result.found:
        print(
            "No settings were found. Add the account with the setup screen (`tuimail`, then A) "
            "or write it into the config file (docs/config.md).",
            file=out,
        )
        return 1, None
    choice = result.choose(allow_plaintext=options.allow_plaintext)
    for line in result.describe():
        print(line, file=out)
    for warning in choice.warnings:
        print(f"Warning: {warning}", file=out)
    if choice.plaintext_withheld:
        print("(--allow-plaintext chooses the unencrypted server.)", file=out)
    if choice.incoming is None and choice.smtp is None:
        print("Nothing usable was found; nothing was written.", file=out)
        return 1, None
    name = options.name or account_name_for(options.address, options.config.accounts)
    text = account_text(
        name,
        options.address,
        choice,
        display_name=options.display_name,
        ca_file=options.network.ca_file,
    )
    print(f"\nThe account to add to {options.config_path}:\n\n{text}", file=out)
    if options.confirm is None:
        print(
            "Nothing was written: standard input is not a terminal to confirm on; "
            "run again with --yes to add it.",
            file=out,
        )
        return 1, None
    if not options.confirm("Add this account? [y/N] "):
        print("Nothing was written.", file=out)
        return 1, None
    try:
        add_account(options.config_path, text)
    except ConfigError as exc:
        print(f"tuimail: error: {exc}", file=err)
        return 1, None
    print(f"Account {name!r} added to {options.config_path}.", file=out)
    return 0, name
