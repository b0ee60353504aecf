"""Addresses and host names for a settings lookup: split an address, check a host name, and
find the provider's domain of a mail server's host name."""

from __future__ import annotations

import re

from tuimail.config.discovered import AutoconfigError
from tuimail.mail.idn import AddressEncodingError, ascii_domain
from tuimail.mail.sanitize import sanitize_line

_LABEL_RE = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
# Second-level labels under a two-letter country code that are public suffixes themselves
# (co.uk, com.au, ne.jp, ...): a small stand-in for the public suffix list, enough to turn an MX
# host into the provider's domain.
_SECOND_LEVEL_SUFFIXES = frozenset(
    {"ac", "co", "com", "edu", "gov", "gv", "go", "ne", "net", "or", "org"}
)


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
