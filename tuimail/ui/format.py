"""Turning store rows into display text. Untrusted text passes through mail.sanitize here."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from tuimail.core.model import Address
from tuimail.mail.sanitize import sanitize_line


def short_date(moment: datetime | None, now: datetime) -> str:
    """`14:05` today, `Nov 03` this year, `2024-11-03` before."""
    if moment is None:
        return ""
    local = moment.astimezone(now.tzinfo)
    if local.date() == now.date():
        return local.strftime("%H:%M")
    if local.year == now.year:
        return local.strftime("%b %d")
    return local.strftime("%Y-%m-%d")


def sender_text(addresses: tuple[Address, ...]) -> str:
    """The first sender's name (or address), sanitized to one line."""
    if not addresses:
        return "(no sender)"
    first = addresses[0]
    return sanitize_line(first.name or first.email) or "(no sender)"


def addresses_text(addresses: tuple[Address, ...]) -> str:
    """All addresses of a header, sanitized to one line."""
    return sanitize_line(", ".join(str(a) for a in addresses))


def quote_depth(line: str) -> int:
    """How deeply a line is quoted: the number of leading '>' (spaces between them allowed)."""
    depth = 0
    for char in line:
        if char == ">":
            depth += 1
        elif char != " ":
            break
    return depth


def body_text(body: str, quote_colours: list[str]) -> Text:
    """An already sanitized message body as Text, quoted lines coloured by depth."""
    text = Text()
    for line in body.splitlines(keepends=True):
        depth = quote_depth(line)
        style = quote_colours[(depth - 1) % len(quote_colours)] if depth and quote_colours else ""
        text.append(line, style=style)
    return text
