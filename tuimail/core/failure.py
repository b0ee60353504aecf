"""The kinds of failure: one closed set that every layer may name and branch on.

A kind says why a connection, a sync pass, a send or a download failed; the message beside it
says so in words. The connection kinds (`tuimail.sync.connection`) come first, then those of the
engines' sessions (`tuimail.sync.session`). Values are stable strings: they appear in events,
logs and the command line's output.
"""

from __future__ import annotations

import enum


class FailureKind(enum.StrEnum):
    """Why something failed: a small closed set that callers may branch on."""

    # Connecting and logging in.
    REFUSED = "refused"
    TIMEOUT = "timeout"
    DNS = "dns"
    NETWORK = "network"  # any other socket error: unreachable network, connection reset
    TLS_UNTRUSTED = "tls_untrusted"
    TLS_EXPIRED = "tls_expired"
    TLS_HOSTNAME = "tls_hostname"
    TLS_OTHER = "tls_other"
    STARTTLS_MISSING = "starttls_missing"
    AUTH_FAILED = "auth_failed"
    PROTOCOL_ERROR = "protocol_error"
    PASSWORD_UNAVAILABLE = "password_unavailable"  # noqa: S105 - a failure name, not a password
    # An engine's session, once connected.
    BUSY = "busy"  # another pass over the account holds its sync lock: it brings the news
    CANCELLED = "cancelled"
    PROTOCOL = "protocol"  # the server refused a command, or sent something unexpected
    FOLDER = "folder"
    STORE = "store"
    STORE_FULL = "store_full"
    STORE_LOCKED = "store_locked"
    INTERNAL = "internal"  # a bug, reported as a failure by a pass that must end with an event
