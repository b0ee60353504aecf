"""Attachment bytes and safe file names for saving them. Pure functions, no I/O.

The attachments are found by the same walk as `parse.parse_message` (its walker, extended to
keep the parts), so `AttachmentInfo.index` from the parsed message names the same part here.
"""

from __future__ import annotations

import re
import unicodedata
from email.message import Message
from email.parser import BytesParser

from tuimail.mail import parse
from tuimail.mail.sanitize import sanitize_line

MAX_NAME_BYTES = 200  # well under the 255 bytes most file systems allow
# Names that Windows reserves (a file saved here may be copied there): CON, PRN, AUX, NUL, COM1...
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


class _PartKeepingWalker(parse._BodyWalker):
    """The parser's walker, also keeping each attachment's MIME part."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[Message] = []

    def _attachment(
        self, part: Message, headers: parse._PartHeaders, size: int | None = None
    ) -> None:
        super()._attachment(part, headers, size)
        self.parts.append(part)


def attachment_payload(raw: bytes, index: int) -> bytes | None:
    """The decoded bytes of attachment `index` of a message, or None when there is no such
    attachment (or the message is over the parser's limits and shown raw)."""
    parsed = parse.parse_message(raw)
    if parsed.raw_only or not 0 <= index < len(parsed.attachments):
        return None
    try:
        msg = BytesParser(policy=parse._parsing_policy()).parsebytes(raw)
        walker = _PartKeepingWalker()
        walker.walk(msg, None, "", 0)
        part = walker.parts[index]
        if part.get_content_maintype() == "message" or part.is_multipart():
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else part
            return first.as_bytes()
        payload = part.get_payload(decode=True)
        return payload if isinstance(payload, bytes) else b""
    except Exception:  # the parser already coped with this message; keep never-raise here too
        return None


def safe_filename(name: str, fallback: str) -> str:
    """A file name that is safe to create inside a chosen directory.

    Only the last path component is kept (`../x`, `/etc/x` and `..\\x` become `x`); control,
    escape and bidi characters go; leading dots (hidden files, `..`) and trailing dots and
    spaces are removed; reserved device names get a `_` prefix; the length is capped in UTF-8
    bytes keeping the extension. An empty result becomes `fallback`.
    """
    text = unicodedata.normalize("NFC", sanitize_line(name)).replace("\x00", "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if ch.isprintable()).strip().lstrip(".").rstrip(". ")
    if _RESERVED.match(text):
        text = f"_{text}"
    stem, dot, extension = text.rpartition(".")
    if not dot or not stem or len(extension.encode()) > 16:
        stem, extension = text, ""
    suffix = f".{extension}" if extension else ""
    while len((stem + suffix).encode()) > MAX_NAME_BYTES and stem:
        stem = stem[:-1]
    text = (stem + suffix).strip()
    return text or fallback
