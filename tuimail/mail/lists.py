"""Mailing lists (RFC 2369, RFC 8058): where a list takes posts and how to leave it, read from
a message's List-* header fields, and the answers that follow mutt's: a reply to the list
(List-Post), and a private reply to the sender alone.

Pure functions, no I/O. Nothing here acts on a link: the app asks the user first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from tuimail.core.model import Address, Draft
from tuimail.mail.identity import header_values
from tuimail.mail.mailto import MailtoError, is_mailto, parse_mailto
from tuimail.mail.parse import ParsedMessage
from tuimail.mail.reply import reply_draft
from tuimail.mail.sanitize import sanitize_line

_FIELDS = (b"list-post", b"list-unsubscribe", b"list-unsubscribe-post", b"list-id")
_BRACKETED = re.compile(r"<([^<>\s]{1,2000})>")
MAX_URIS = 8  # of one field: a list names one or two


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """One way to leave a list: a mailto: link (a message to send), an https: link to POST to
    (RFC 8058 one-click), or a web page to open in the browser."""

    kind: Literal["mailto", "one-click", "web"]
    uri: str

    def shown(self) -> str:
        """The link, safe for the screen, on one line."""
        return sanitize_line(self.uri)


@dataclass(frozen=True, slots=True)
class ListInfo:
    """What a message's List-* fields say; empty for a message not from a list."""

    post: Address | None = None  # where posts go (List-Post's mailto:)
    posting_refused: bool = False  # List-Post: NO (an announcement list)
    unsubscribe: tuple[Unsubscribe, ...] = ()  # in the order the field lists them
    list_id: str = ""

    @property
    def is_list(self) -> bool:
        """Whether the message came through a mailing list."""
        return bool(self.post or self.posting_refused or self.unsubscribe or self.list_id)

    def preferred_unsubscribe(self, *, online: bool = True) -> Unsubscribe | None:
        """The way to leave the list offered first: one-click (nothing to write, nothing
        opened), else a message, else the web page; a message first when not `online` (it
        waits in the outbox; a one-click request cannot)."""
        kinds = ("one-click", "mailto", "web") if online else ("mailto", "one-click", "web")
        for kind in kinds:
            for way in self.unsubscribe:
                if way.kind == kind:
                    return way
        return None


def _uris(values: list[str]) -> list[str]:
    return [uri for value in values for uri in _BRACKETED.findall(value)][:MAX_URIS]


def list_info(raw: bytes) -> ListInfo:
    """The List-* fields of `raw` (its header section only). Never raises."""
    values = header_values(raw, _FIELDS)
    post: Address | None = None
    refused = False
    first_post = values[b"list-post"][:1]
    if first_post and first_post[0].strip().upper().startswith("NO"):
        refused = not _uris(first_post)
    for uri in _uris(first_post):
        if is_mailto(uri):
            try:
                fields = parse_mailto(uri)
            except MailtoError:
                continue
            if fields.to:
                post = fields.to[0]
                break
    one_click = any(
        value.replace(" ", "").lower() == "list-unsubscribe=one-click"
        for value in values[b"list-unsubscribe-post"]
    )
    ways: list[Unsubscribe] = []
    for uri in _uris(values[b"list-unsubscribe"][:1]):
        if is_mailto(uri):
            ways.append(Unsubscribe("mailto", uri))
        elif uri[:8].lower() == "https://":
            ways.append(Unsubscribe("one-click" if one_click else "web", uri))
        elif uri[:7].lower() == "http://":
            ways.append(Unsubscribe("web", uri))  # never POSTed: not over plain http
    list_id = sanitize_line(values[b"list-id"][0])[:200] if values[b"list-id"] else ""
    return ListInfo(post, refused, tuple(ways), list_id)


def list_reply_draft(
    parsed: ParsedMessage, info: ListInfo, *, sender: Address, own: tuple[str, ...]
) -> Draft | None:
    """A reply to the list's posting address (List-Post) alone; None when the message names
    none (not from a list, or an announcement list that takes no posts)."""
    if info.post is None:
        return None
    draft = reply_draft(parsed, sender=sender, own=own)
    return replace(draft, to=(info.post,), cc=())


def _munged(parsed: ParsedMessage, info: ListInfo) -> bool:
    """Whether the Reply-To points back at the list (the list rewrote it): each of its
    addresses is the list's posting address or one the message was sent to."""
    env = parsed.envelope
    if not env.reply_to or not info.is_list:
        return False
    list_addresses = {a.email.lower() for a in (*env.to, *env.cc)}
    if info.post is not None:
        list_addresses.add(info.post.email.lower())
    return all(a.email.lower() in list_addresses for a in env.reply_to)


def private_reply_draft(
    parsed: ParsedMessage, info: ListInfo, *, sender: Address, own: tuple[str, ...]
) -> Draft:
    """A reply to the sender alone: the From address when the list set Reply-To to itself
    (mutt's `ignore_list_reply_to`), else where a reply goes (Reply-To, else From)."""
    if _munged(parsed, info):
        parsed = replace(parsed, envelope=replace(parsed.envelope, reply_to=()))
    return reply_draft(parsed, sender=sender, own=own)


def unsubscribe_summary(info: ListInfo) -> str:
    """The message view's line for the list's ways out, safe for the screen ("" for none):
    each address, one-click ones marked so."""
    ways = [
        way.shown() + (" (one-click)" if way.kind == "one-click" else "")
        for way in info.unsubscribe
    ]
    return sanitize_line(", ".join(ways))[:500]
