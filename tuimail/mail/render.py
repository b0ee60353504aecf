"""Parsed message -> the text of the message view. Never fetches anything.

The body is the plain-text part when there is one with text in it, else the HTML part, walked
into a styled document by `html_text` (images become ``[alt text]``, links are numbered in the
text and listed after it, nothing is loaded). The view gets the parts as `message_pieces` (the UI
styles the documents); `render_message` gives the same as plain text. Attachments follow the body,
one per line with name and size. Everything returned here has been through `sanitize`, so it can
go to the screen as plain text (never as markup). The full-text index gets the same parts as text
(`search_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING

from tuimail.mail import limits
from tuimail.mail.decode import decode_bytes
from tuimail.mail.html_model import HtmlDocument
from tuimail.mail.html_text import parse_html
from tuimail.mail.invitation import invitation_summaries
from tuimail.mail.sanitize import sanitize, sanitize_line

if TYPE_CHECKING:
    from tuimail.core.model import AttachmentInfo
    from tuimail.mail.parse import ParsedMessage, TextPart


def human_size(size: int) -> str:
    """A byte count for people: "512 bytes", "1.5 KB", "120 KB", "3.2 MB" (1 KB = 1024 bytes)."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


# --- HTML ----------------------------------------------------------------------------------------


def html_to_text(markup: str) -> str:
    """Convert HTML to readable plain text (sanitized); bounded in time and output size."""
    return _break_long_lines(parse_html(markup).plain_text())


def render_html(markup: str) -> str:
    """HTML -> sanitized display text as plain text (never fetching anything)."""
    return html_to_text(markup)


# --- message ---------------------------------------------------------------------------------


def preferred_parts(parts: Sequence[TextPart]) -> list[TextPart]:
    """The parts to show: per alternative group, the plain parts unless they are all empty."""
    groups: dict[int, list[TextPart]] = {}
    for part in parts:
        groups.setdefault(part.group, []).append(part)
    chosen: list[TextPart] = []
    for members in groups.values():
        plain = [part for part in members if part.content_type == "text/plain"]
        if any(part.text.strip() for part in plain):
            chosen.extend(plain)
        else:
            chosen.extend([part for part in members if part.content_type != "text/plain"] or plain)
    return chosen


def _break_long_lines(text: str) -> str:
    """Split lines longer than MAX_LINE_CHARS so the view never lays out a huge line."""
    width = limits.MAX_LINE_CHARS
    if len(text) <= width:
        return text
    lines = text.split("\n")
    if max(map(len, lines)) <= width:
        return text
    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
        else:
            out.extend(line[start : start + width] for start in range(0, len(line), width))
    return "\n".join(out)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    rest = len(text) - limit
    return text[:limit] + f"\n\n[message cut: {rest} more characters not shown]"


def attachment_line(attachment: AttachmentInfo) -> str:
    """One line for an attachment, e.g. ``[attachment] report.pdf (120 KB)`` (sanitized)."""
    name = sanitize_line(attachment.filename).strip()
    if not name:
        name = f"unnamed {sanitize_line(attachment.content_type)}"
    return f"[attachment] {name} ({human_size(attachment.size)})"


def _render_raw(parsed: ParsedMessage, raw: bytes) -> str:
    reasons = "; ".join(parsed.problems) or "it could not be parsed"
    shown = raw[: limits.MAX_RAW_VIEW_BYTES]
    text, _ = decode_bytes(shown)
    text = f"[This message is shown raw: {reasons}.]\n\n{text}"
    if len(raw) > len(shown):
        text += f"\n\n[raw message cut: {human_size(len(raw) - len(shown))} not shown]"
    return sanitize(_break_long_lines(text))


Piece = str | HtmlDocument
"""A part of the message view: sanitized plain text, or an HTML part as a styled document."""


def message_pieces(parsed: ParsedMessage, raw: bytes, tz: tzinfo | None = None) -> list[Piece]:
    """The message view's content: an invitation's summary (times in `tz`, None: the
    system's), the body parts (plain text, or HTML as a document), then the attachment list;
    sanitized and bounded. A raw-only message (over a parsing limit) gives a note and the start
    of its raw text."""
    if parsed.raw_only:
        return [_render_raw(parsed, raw)]
    pieces: list[Piece] = list(invitation_summaries(raw, tz))
    budget = limits.MAX_RENDER_CHARS
    for part in preferred_parts(parsed.text_parts):
        if budget <= 0:
            pieces.append("[message cut: more parts not shown]")
            break
        if part.content_type == "text/plain":
            text = _cut(part.text.strip("\n"), budget)
            text = sanitize(_break_long_lines(text)).rstrip()
            if text.strip():
                pieces.append(text)
                budget -= len(text)
        else:
            document = parse_html(part.text)
            size = sum(
                len(span.text) for block in document.blocks for span in getattr(block, "spans", ())
            )
            if document.blocks or document.links:
                pieces.append(document)
                budget -= size
    if parsed.attachments:
        pieces.append("\n".join(attachment_line(item) for item in parsed.attachments))
    return pieces


def pieces_text(pieces: Sequence[Piece]) -> str:
    """Pieces of the message view as one plain text (HTML documents as their plain text)."""
    texts = [
        piece if isinstance(piece, str) else _break_long_lines(piece.plain_text())
        for piece in pieces
    ]
    return "\n\n".join(text for text in texts if text)


def render_message(parsed: ParsedMessage, raw: bytes) -> str:
    """The message view's text: body, then the attachment list; sanitized and bounded.

    A raw-only message (over a parsing limit) shows a note and the start of its raw text.
    """
    return pieces_text(message_pieces(parsed, raw))


def search_text(parsed: ParsedMessage) -> str:
    """Plain body text for the full-text index: the displayed parts, HTML converted to text.

    Controls and escape sequences are removed (they would only pollute the index); a raw-only
    message has no parsed body and gives "".
    """
    chunks: list[str] = []
    budget = limits.MAX_SEARCH_CHARS
    for part in preferred_parts(parsed.text_parts):
        if budget <= 0:
            break
        text = part.text if part.content_type == "text/plain" else html_to_text(part.text)
        chunks.append(sanitize(text[:budget]).strip())
        budget -= len(chunks[-1])
    return "\n\n".join(chunk for chunk in chunks if chunk)
