"""Frozen dataclasses shared by every layer (mail, store, sync, ui). No I/O here.

Untrusted text in these objects (subjects, names, file names) is stored as received (decoded to
str); it reaches the screen only through `tuimail.mail.sanitize`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Protocol(enum.StrEnum):
    """The protocols an account can speak."""

    IMAP = "imap"
    POP3 = "pop3"
    SMTP = "smtp"


class Security(enum.StrEnum):
    """How a connection is protected."""

    TLS = "tls"  # implicit TLS from the first byte
    STARTTLS = "starttls"  # plaintext greeting, then a required upgrade
    NONE = "none"  # loopback only


class FolderRole(enum.StrEnum):
    """Special-use roles (RFC 6154), or NONE for an ordinary folder."""

    NONE = ""
    INBOX = "inbox"
    SENT = "sent"
    DRAFTS = "drafts"
    TRASH = "trash"
    JUNK = "junk"
    ARCHIVE = "archive"
    ALL = "all"
    FLAGGED = "flagged"


# IMAP system flags, as the store keeps them (POP3 and local mail use the same names).
SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DELETED = "\\Deleted"
DRAFT = "\\Draft"
# The keyword other clients (Thunderbird, Apple Mail, mutt) set on a forwarded message.
FORWARDED = "$Forwarded"


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: display name (may be empty) and address (may be empty for broken input)."""

    name: str
    email: str

    def __str__(self) -> str:
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.name or self.email


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the message list, threading and search need from a message's headers."""

    message_id: str | None  # without angle brackets
    subject: str
    from_: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    date: datetime | None = None  # timezone-aware when the header parsed; None when absent/bad
    in_reply_to: str | None = None  # first msg-id of In-Reply-To, without angle brackets
    references: tuple[str, ...] = ()  # msg-ids, oldest first, without angle brackets
    has_attachments: bool = False
    size: int = 0  # bytes of the raw message


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """An attachment as listed in the message view (the bytes stay in the raw message)."""

    index: int  # position among the message's attachments, stable for a given raw message
    filename: str  # as declared by the sender (untrusted; sanitize before showing or saving)
    content_type: str
    size: int  # decoded size in bytes (estimated when the part is malformed)


@dataclass(frozen=True, slots=True)
class Draft:
    """A message being composed, before it becomes RFC 5322 bytes."""

    from_: Address
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    subject: str = ""
    body: str = ""
    attachments: tuple[str, ...] = ()  # file system paths
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = field(default=())
    # Stored messages attached whole (message/rfc822), by their store id: forwarded as
    # attachments. Ids, not bytes, so a draft stays small and JSON-able; whoever composes it
    # reads the bytes from the store.
    attached_messages: tuple[int, ...] = ()
    # Attachments kept as bytes in the store (draft_parts), by id: those of a message taken
    # back from the outbox, which exist nowhere else. Sent again unchanged.
    stored_parts: tuple[int, ...] = ()
    # Attachments of stored messages, by (store id, attachment index): an inline forward
    # carries the original's attachments. Whoever composes the draft reads their bytes from
    # the store and attaches them unchanged (name, type and content as the original has them).
    forwarded_attachments: tuple[tuple[int, int], ...] = ()
    # The stored messages this one replies to or forwards (a forward of several marked
    # messages has them all), each with the flag that sending it sets there (ANSWERED or
    # FORWARDED): (message id, flag). Set when sent, not when queued.
    originals: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class PartBody:
    """An attachment given as its bytes (not as a file): its name, type and decoded data."""

    filename: str  # "" when it had none
    content_type: str  # type/subtype
    data: bytes
