"""mailto: URIs (RFC 6068) → the fields of a message to compose. Pure functions, no I/O.

Only what a composer should take from a link someone else wrote is used: to, cc, bcc,
subject, body and In-Reply-To. `attach` (a way to make a user mail their own files) and every
other header field are ignored. Nothing here sends anything: the composer opens prefilled and
the user decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from tuimail.core.model import Address

MAX_URI_CHARS = 64 * 1024  # a mailto: link longer than this is not a link someone clicks
_ADDRESS_FIELDS = ("to", "cc", "bcc")


class MailtoError(ValueError):
    """The text is not a mailto: URI tuimail can use; the message says why."""


@dataclass(frozen=True, slots=True)
class MailtoFields:
    """What a mailto: URI asks to prefill."""

    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    subject: str = ""
    body: str = ""
    in_reply_to: str | None = None  # without angle brackets
    ignored: tuple[str, ...] = field(default=())  # header field names left out, lower case


def is_mailto(text: str) -> bool:
    """Whether `text` is meant as a mailto: URI (the scheme is case-insensitive)."""
    return text[:7].lower() == "mailto:"


def _decode(text: str) -> str:
    # RFC 6068: percent-encoded UTF-8; "+" is a plus sign, not a space.
    return unquote(text, encoding="utf-8", errors="replace")


def _one_line(name: str, value: str) -> str:
    """A header value on one line: a line break in it would start another header."""
    if "\r" in value or "\n" in value:
        raise MailtoError(f"the {name} of the link contains a line break, which is not allowed")
    return value.strip()


def _addresses(name: str, values: list[str]) -> tuple[Address, ...]:
    # The email package only for a link: `tuimail` checks every argument with is_mailto.
    from email.utils import getaddresses

    found: list[Address] = []
    for display, email in getaddresses([_one_line(name, v) for v in values if v.strip()]):
        local, at, domain = email.rpartition("@")
        if not at or not local or not domain or any(c.isspace() for c in email):
            raise MailtoError(f"{email or display!r} in the link's {name} is not an address")
        found.append(Address(display, email))
    return tuple(found)


def parse_mailto(uri: str) -> MailtoFields:
    """The fields of a mailto: URI; MailtoError when it is not one or is malformed."""
    if not is_mailto(uri):
        raise MailtoError("a mailto: link starts with 'mailto:'")
    if len(uri) > MAX_URI_CHARS:
        raise MailtoError(f"the link is longer than {MAX_URI_CHARS} characters")
    path, _, query = uri[7:].partition("?")
    values: dict[str, list[str]] = {name: [] for name in (*_ADDRESS_FIELDS, "subject", "body")}
    values["to"].append(_decode(path))
    in_reply_to: list[str] = []
    ignored: list[str] = []
    for pair in query.split("&") if query else ():
        raw_name, _, raw_value = pair.partition("=")
        name = _decode(raw_name).strip().lower()
        value = _decode(raw_value)
        if name in values:
            values[name].append(value)
        elif name == "in-reply-to":
            in_reply_to.append(value)
        elif name:
            ignored.append(name)
    reply_to = _one_line("In-Reply-To", in_reply_to[0]).strip("<>").strip() if in_reply_to else ""
    if any(c.isspace() for c in reply_to):
        raise MailtoError("the link's In-Reply-To is not one message id")
    return MailtoFields(
        to=_addresses("To", values["to"]),
        cc=_addresses("Cc", values["cc"]),
        bcc=_addresses("Bcc", values["bcc"]),
        subject=" ".join(_one_line("Subject", s) for s in values["subject"]).strip(),
        # Line breaks in a body are CRLF in the URI (%0D%0A); the composer wants "\n".
        body="\n".join(values["body"]).replace("\r\n", "\n").replace("\r", "\n"),
        in_reply_to=reply_to or None,
        ignored=tuple(dict.fromkeys(ignored)),
    )
