"""Thunderbird's clientConfig v1.1 files: fetching one over HTTP(S), and parsing it.

The files are Thunderbird's clientConfig v1.1 XML. Any DOCTYPE is refused before parsing (no
entity expansion, so no "billion laughs"); every fetch has a time limit, a size cap, verified
certificates and at most three redirects, never from https to http.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat

from tuimail import __version__
from tuimail.config.discovered import AutoconfigError, ServerSetting
from tuimail.core.model import Protocol, Security
from tuimail.core.tls import describe_tls_error, make_ssl_context
from tuimail.mail.sanitize import sanitize_line
from tuimail.sync.discovery.names import split_address, valid_host
from tuimail.sync.discovery.network import Network, os_problem

MAX_CONFIG_BYTES = 256 * 1024  # real files are a few kilobytes
MAX_REDIRECTS = 3
MAX_SERVERS = 16  # per kind, per file
_SOCKET_TYPES = {"SSL": Security.TLS, "STARTTLS": Security.STARTTLS, "plain": Security.NONE}


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
            raise FetchError(os_problem(exc)) from None
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
