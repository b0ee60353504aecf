"""Which of the user's addresses a message is written from, and its signature.

An answer is written from the address the original was sent to: the first of the user's
addresses found in its To, then Cc, then Delivered-To, then X-Original-To (compared without
regard to case). An address with a "+tag" (`me+lists@example.org`) counts as the address
without it (`me@example.org`) when no address matches exactly: the answer is then written from
the address as configured, so the tag (often a filter's or a sign-up's) is not given away.

A signature follows the body after the line "-- " (RFC 3676's separator, with its space).
Switching the From address replaces the signature only while the body still ends with the one
put there, unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.utils import getaddresses
from pathlib import Path

from tuimail.mail import limits

SEPARATOR = "-- \n"
MAX_SIGNATURE_BYTES = 64 * 1024  # a signature file larger than this is not a signature
# The fields that say whom a message reached, in the order they are asked.
RECIPIENT_FIELDS = (b"to", b"cc", b"delivered-to", b"x-original-to")
_FOLD = re.compile(rb"\r?\n[ \t]")
# One header field with its continuation lines (as headers.py reads them).
_HEADER_FIELD_RE = re.compile(rb"^([!-9;-~]+)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*", re.MULTILINE)


class SignatureError(Exception):
    """A signature file that cannot be read; the message names the file and why."""


def header_values(raw: bytes, names: Sequence[bytes]) -> dict[bytes, list[str]]:
    """Every occurrence of the header fields `names` (lower case) of `raw`, unfolded and each
    cut to a bounded length, by name. Only the header section is read."""
    section = raw[: limits.header_section_end(raw)]
    found: dict[bytes, list[str]] = {name: [] for name in names}
    for match in _HEADER_FIELD_RE.finditer(section):
        name = match.group(1).lower()
        if name in found and len(found[name]) < 50:
            field = match.group(0)[: limits.MAX_FIELD_CHARS]
            value = _FOLD.sub(b" ", field.partition(b":")[2]).strip()
            found[name].append(value.decode("utf-8", "replace"))
    return found


def received_addresses(raw: bytes) -> list[str]:
    """The addresses a message was sent to, in the order they are matched: To, Cc,
    Delivered-To, X-Original-To."""
    values = header_values(raw, RECIPIENT_FIELDS)
    found: list[str] = []
    for name in RECIPIENT_FIELDS:
        for _display, email in getaddresses(values[name]):
            if "@" in email:
                found.append(email.strip())
    return found


def _without_tag(email: str) -> str:
    local, at, domain = email.lower().rpartition("@")
    return f"{local.partition('+')[0]}{at}{domain}"


def pick_identity(received: Sequence[str], identities: Sequence[str]) -> int | None:
    """The index of the identity (an address of `identities`) a message sent to `received`
    is answered from: an exact match (any case) first, in the order of `received`, then one
    with a "+tag" removed from the received address. None when none matches."""
    mine = [address.lower() for address in identities]
    for email in received:
        if email.lower() in mine:
            return mine.index(email.lower())
    plain = [_without_tag(address) for address in identities]
    for email in received:
        if _without_tag(email) in plain:
            return plain.index(_without_tag(email))
    return None


def read_signature(text: str, file: Path | None) -> str:
    """An identity's signature: the text of `file` when given, else `text`. Line ends become
    "\\n". Raises SignatureError naming the file when it cannot be read."""
    if file is None:
        return text.replace("\r\n", "\n")
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_SIGNATURE_BYTES + 1)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise SignatureError(f"The signature file {str(file)!r} cannot be read: {why}") from exc
    if len(data) > MAX_SIGNATURE_BYTES:
        raise SignatureError(
            f"The signature file {str(file)!r} is larger than {MAX_SIGNATURE_BYTES // 1024} KiB"
        )
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def signature_block(signature: str) -> str:
    """What a signature adds at the end of a body: the separator line, then the signature
    (ending with a line end); "" for no signature. A signature that starts with its own
    separator line is not given a second one."""
    text = signature.strip("\n")
    if not text.strip():
        return ""
    if text.startswith(("-- \n", "--\n")):
        text = text.partition("\n")[2]
    return SEPARATOR + text + "\n"


def with_signature(body: str, block: str) -> str:
    """`body` with the signature `block` (`signature_block`) at its end, after a blank line."""
    if not block:
        return body
    if not body.strip():
        return "\n\n" + block
    return body.rstrip("\n") + "\n\n" + block


def swap_signature(body: str, old_block: str, new_block: str) -> str | None:
    """`body` with the signature `old_block` at its end replaced by `new_block`; None when
    the body does not end with `old_block` as it was put there (the user changed it)."""
    if not old_block:
        return with_signature(body, new_block)
    # Line ends after the signature do not count (a message taken back from the outbox has
    # lost its last one).
    trimmed, old = body.rstrip("\n"), old_block.rstrip("\n")
    if not trimmed.endswith(old):
        return None
    rest = trimmed[: -len(old)]
    if not new_block:
        return rest.rstrip("\n") + "\n" if rest.strip() else ""
    return rest + new_block
