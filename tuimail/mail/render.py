"""Parsed message -> the text of the message view. Never fetches anything.

The body is the plain-text part when there is one with text in it, else the HTML part converted by
html2text (images become ``[alt text]``, links are listed by number at the end, nothing is loaded).
Attachments follow the body, one per line with name and size. Everything returned here has been
through `sanitize`, so it can go to the screen as plain text (never as markup). The full-text
index gets the same parts as text (`search_text`).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import html2text

from tuimail.mail import limits
from tuimail.mail.decode import decode_bytes
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

_NESTING_TAGS = frozenset({"ul", "ol", "blockquote"})
_TRACKING_PIXEL_SIZES = frozenset({"0", "1", "0px", "1px"})


class _MailHTML2Text(html2text.HTML2Text):
    """html2text tuned for a terminal mail view: plain text out, images as alt text, bounded."""

    def __init__(self) -> None:
        super().__init__(bodywidth=0)  # the view wraps lines itself
        self.unicode_snob = True  # real characters, not ASCII stand-ins
        self.inline_links = False  # "[text][1]" in the text, "[1]: url" at the end
        self.skip_internal_links = True
        self.wrap_links = False
        self.images_to_alt = True
        self._skipped: Counter[str] = Counter()

    def handle_data(self, data: str, entity_char: bool = False) -> None:
        # The result is shown as plain text, not Markdown: escaping "1." or "-" at the start of
        # a line would only add stray backslashes.
        super().handle_data(data, entity_char=True)

    def handle_tag(self, tag: str, attrs: dict[str, str | None], start: bool) -> None:
        if tag == "img":
            if start:
                self._image(attrs)
            return
        if tag in _NESTING_TAGS:
            # Every level indents every line inside it, so deep nesting grows the output
            # quadratically: levels past the limit are flattened into their parent.
            if start and self._nesting() >= limits.MAX_HTML_NESTING:
                self._skipped[tag] += 1
                return
            if not start and self._skipped[tag]:
                self._skipped[tag] -= 1
                return
        super().handle_tag(tag, attrs, start)

    def _nesting(self) -> int:
        return len(self.list) + self.blockquote

    def _image(self, attrs: dict[str, str | None]) -> None:
        alt = " ".join((attrs.get("alt") or "").split())
        width, height = attrs.get("width"), attrs.get("height")
        if not alt and (width in _TRACKING_PIXEL_SIZES or height in _TRACKING_PIXEL_SIZES):
            return  # a tracking pixel or a spacer: nothing a reader would want to know about
        self.handle_data(f"[{alt or 'image'}]")


_TAG_RE = re.compile(r"<[^>]*>")
_BLANK_LINES_RE = re.compile(r"\n(?:[ \t]*\n){2,}")  # html2text leaves runs of blank lines


def html_to_text(markup: str) -> str:
    """Convert HTML to readable text (not yet sanitized); bounded in time and output size."""
    note = ""
    if len(markup) > limits.MAX_HTML_CHARS:
        note = f"\n\n[HTML cut: {human_size(len(markup) - limits.MAX_HTML_CHARS)} not shown]"
        markup = markup[: limits.MAX_HTML_CHARS]
    try:
        text = _MailHTML2Text().handle(markup)
    except Exception:  # html2text has no known failure here; keep the words if it ever does
        text = "[HTML could not be converted; its text follows]\n\n"
        text += html.unescape(_TAG_RE.sub(" ", markup))
    return _BLANK_LINES_RE.sub("\n\n", text).strip("\n") + note


def render_html(markup: str) -> str:
    """HTML -> sanitized display text (html2text, never fetching anything)."""
    return sanitize(html_to_text(markup))


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


def render_message(parsed: ParsedMessage, raw: bytes) -> str:
    """The message view's text: body, then the attachment list; sanitized and bounded.

    A raw-only message (over a parsing limit) shows a note and the start of its raw text.
    """
    if parsed.raw_only:
        return _render_raw(parsed, raw)
    pieces: list[str] = []
    budget = limits.MAX_RENDER_CHARS
    for part in preferred_parts(parsed.text_parts):
        if budget <= 0:
            break
        text = part.text if part.content_type == "text/plain" else html_to_text(part.text)
        text = text.strip("\n")
        if text.strip():
            pieces.append(text)
            budget -= len(text)
    body = _cut("\n\n".join(pieces), limits.MAX_RENDER_CHARS)
    body = sanitize(_break_long_lines(body)).rstrip()
    if parsed.attachments:
        listing = "\n".join(attachment_line(item) for item in parsed.attachments)
        body = f"{body}\n\n{listing}" if body else listing
    return body


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
