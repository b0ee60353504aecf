"""How a settings lookup reaches the world: where to connect, and its limits.

Everything a lookup sends goes through `Network`, so tests can point the well-known host names at
loopback servers and answer DNS from a local resolver.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tuimail.mail.sanitize import sanitize_line

ISPDB_URL = "https://autoconfig.thunderbird.net/v1.1/"
FETCH_TIMEOUT = 10.0  # seconds for one file, redirects included
PROBE_TIMEOUT = 5.0  # seconds for one guessed server


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


def os_problem(exc: BaseException) -> str:
    """A failed connection or read, in a few words (sanitized)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return sanitize_line(str(text))[:120]
