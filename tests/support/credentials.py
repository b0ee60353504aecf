"""Checks that a connection attempt never asked for or sent a credential.

- `PasswordSpy`: a password source that counts how often it was asked;
- `assert_no_credentials_sent(proxy, password)`: the fault proxy's record of what the client sent
  holds neither the password (plain or in any base64 form) nor, in the plaintext before the first
  TLS record, any login command.
"""

from __future__ import annotations

import re

from tests.support.proxy import FaultProxy
from tuimail.core.log import base64_cores

# What each protocol's client sends first when it logs in (never allowed before protection).
LOGIN_COMMANDS = (b"LOGIN", b"AUTHENTICATE", b"AUTH", b"USER", b"PASS", b"APOP")
# Bytes that never appear in IMAP, POP3 or SMTP text but do in TLS records.
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class PasswordSpy:
    """A password source that records how often it was asked."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.password


def plaintext_part(sent: bytes) -> bytes:
    """What was sent before the first TLS record (all of it when TLS never started)."""
    return _BINARY.split(sent, maxsplit=1)[0]


def assert_no_credentials_sent(proxy: FaultProxy, password: str) -> None:
    """Nothing the client sent holds a login command, the password, or its base64 forms."""
    sent = proxy.from_client
    assert proxy.connections, "the client never connected through the proxy"
    assert password.encode() not in sent
    for core in base64_cores(password.encode()):
        assert core.encode() not in sent
    # In the plaintext part (before any TLS record), no login command either.
    plaintext = plaintext_part(sent)
    for command in LOGIN_COMMANDS:
        assert not re.search(rb"(?im)^(\S+ )?" + command + rb"\b", plaintext), command
