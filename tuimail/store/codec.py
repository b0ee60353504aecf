"""Conversions between model values and the store's column values.

Kept in one place so every module of the store writes flags, addresses and times the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from tuimail.core.model import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, Address

# System flags compare case-insensitively (RFC 3501); the store keeps their canonical spelling.
_SYSTEM_FLAGS = {flag.lower(): flag for flag in (SEEN, ANSWERED, FLAGGED, DELETED, DRAFT)}
# \Recent belongs to one IMAP session and means nothing once stored.
_SESSION_FLAGS = {"\\recent"}


def encode_flags(flags: Iterable[str | bytes]) -> str:
    """The flags column: system flags in canonical case, sorted, deduplicated, space-separated.

    Flags are IMAP atoms (no spaces); anything empty or containing whitespace is dropped rather
    than stored in a form that would split differently when read back.
    """
    canonical: set[str] = set()
    for flag in flags:
        text = flag.decode("utf-8", "replace") if isinstance(flag, bytes) else flag
        if not text or any(ch.isspace() for ch in text):
            continue
        lowered = text.lower()
        if lowered in _SESSION_FLAGS:
            continue
        canonical.add(_SYSTEM_FLAGS.get(lowered, text))
    return " ".join(sorted(canonical))


def decode_flags(column: str) -> frozenset[str]:
    """Flags from their column value."""
    return frozenset(column.split()) if column else frozenset()


def encode_addresses(addresses: Sequence[Address]) -> str:
    """A JSON list of [name, email] pairs."""
    if not addresses:
        return "[]"  # most Cc, Bcc and Reply-To fields: what json.dumps gives, without it
    return json.dumps([[a.name, a.email] for a in addresses], ensure_ascii=False)


def decode_addresses(column: str) -> tuple[Address, ...]:
    """Addresses from their column value."""
    return tuple(Address(name, email) for name, email in json.loads(column))


def epoch(moment: datetime | None) -> float | None:
    """Seconds since the epoch; a naive datetime is local time (as imapclient returns it)."""
    return None if moment is None else moment.timestamp()


def to_datetime(seconds: float) -> datetime:
    """A timezone-aware UTC datetime from seconds since the epoch."""
    return datetime.fromtimestamp(seconds, UTC)


def from_epoch(seconds: float | None) -> datetime | None:
    """Like `to_datetime`, for a column that may be NULL."""
    return None if seconds is None else to_datetime(seconds)


def now_epoch(now: datetime | None = None) -> float:
    """`now` (or the current time) as seconds since the epoch; tests pass their own clock."""
    return now.timestamp() if now is not None else datetime.now(UTC).timestamp()


# Reply and forward prefixes in the languages mail clients commonly produce, repeated or not.
_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|sv|vs|wg|tr|rif|ref|antw|odp|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)


def subject_sort_key(subject: str) -> str:
    """The subject without reply/forward prefixes, case-folded: what sorting by subject uses."""
    return _SUBJECT_PREFIX.sub("", subject).strip().casefold()


def sender_sort_key(senders: Sequence[Address]) -> str:
    """The first sender's display name (or address), case-folded: what sorting by sender uses."""
    if not senders:
        return ""
    first = senders[0]
    return (first.name or first.email).strip().casefold()


def address_search_text(*groups: Sequence[Address]) -> str:
    """Names and addresses as one line of text for the full-text index."""
    return " ".join(str(address) for group in groups for address in group)
