"""Attachment bytes and safe file names for saving them. Pure functions, no I/O.

The attachments are found by the same walk as `parse.parse_message` (its walker, extended to
keep the parts), so `AttachmentInfo.index` from the parsed message names the same part here.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo
from email.message import Message
from email.parser import BytesParser
from typing import TYPE_CHECKING, cast

from tuimail.core.model import AttachmentInfo, PartBody
from tuimail.mail import parse
from tuimail.mail.compose import CarriedAttachment
from tuimail.mail.sanitize import sanitize_line

if TYPE_CHECKING:
    from tuimail.mail.render import Piece

MAX_NAME_BYTES = 200  # well under the 255 bytes most file systems allow
# Names that Windows reserves (a file saved here may be copied there): CON, PRN, AUX, NUL, COM1...
_RESERVED = re.compile(
    r"^(con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$)(\..*)?$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class OmittedPart:
    """A part whose body a partial message (the text fetched without the attachments) lacks."""

    section: str  # IMAP section of the part ("2", "1.3"); "1" for a message that is one part
    content_type: str  # lower case type/subtype
    filename: str  # as declared by the sender (untrusted), "" when none
    size: int  # encoded octets, as the server's BODYSTRUCTURE reports them


@dataclass(frozen=True, slots=True)
class ListedAttachment:
    """An attachment of a message as the view lists it; `local` is False when its bytes were
    left out of a partial message (then `info.size` is estimated from the encoded size)."""

    info: AttachmentInfo
    local: bool


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
        return _part_bytes(_attachment_parts(raw)[index])
    except Exception:  # the parser already coped with this message; keep never-raise here too
        return None


def _attachment_parts(raw: bytes) -> list[Message]:
    msg = BytesParser(policy=parse._parsing_policy()).parsebytes(raw)
    walker = _PartKeepingWalker()
    walker.walk(msg, None, "", 0)
    return walker.parts


def _part_bytes(part: Message) -> bytes:
    if part.get_content_maintype() == "message" or part.is_multipart():
        inner = part.get_payload()
        # A message/* or multipart payload is a list of messages (typeshed allows str items).
        first = cast(Message, inner[0]) if isinstance(inner, list) and inner else part
        return first.as_bytes()
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def attachment_parts(raw: bytes) -> list[PartBody]:
    """Every attachment of a message with its name, type and decoded bytes, in index order
    (as `attachment_payload` gives them): what a message taken back from the outbox keeps.
    Empty when the message has none or is over the parser's limits."""
    parsed = parse.parse_message(raw)
    if parsed.raw_only or not parsed.attachments:
        return []
    parts = _attachment_parts(raw)
    return [
        PartBody(info.filename, info.content_type, _part_bytes(part))
        for info, part in zip(parsed.attachments, parts, strict=True)
    ]


def safe_filename(name: str, fallback: str) -> str:
    """A file name that is safe to create inside a chosen directory.

    Only the last path component is kept (`../x`, `/etc/x` and `..\\x` become `x`); control,
    escape and bidi characters go; leading dots (hidden files, `..`) and dashes (a name that
    a command would take for an option) and trailing dots and spaces are removed; reserved
    device names get a `_` prefix; the length is capped in UTF-8 bytes keeping the extension.
    An empty result becomes `fallback`.
    """
    text = unicodedata.normalize("NFC", sanitize_line(name)).replace("\x00", "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if ch.isprintable()).lstrip(".- ").rstrip(". ")
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


def _imap_sections(msg: Message) -> dict[int, str]:
    """id(part) -> IMAP section number of every part the walker can visit (RFC 3501 6.4.5).

    Only multiparts are descended into, as the walker does (a forwarded message is one part).
    """
    sections: dict[int, str] = {}

    def visit(part: Message, section: str) -> None:
        sections[id(part)] = section or "1"
        payload = part.get_payload()
        if parse._part_headers(part).content_type.startswith("multipart/") and isinstance(
            payload, list
        ):
            for number, child in enumerate(payload, 1):
                visit(child, f"{section}.{number}" if section else str(number))

    visit(msg, "")
    return sections


def _decoded_estimate(part: Message, encoded: int) -> int:
    """About how many bytes `encoded` octets of a part's body decode to."""
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        lines = -(-encoded // 78)  # 76 characters and CRLF per line, as senders write it
        return max(0, (encoded - 2 * lines) * 3 // 4)
    return encoded


def listed_attachments(
    raw: bytes, omitted: Iterable[OmittedPart] = (), parsed: parse.ParsedMessage | None = None
) -> list[ListedAttachment]:
    """The attachments of a message in index order, each marked local or not.

    `omitted` are the parts a partial message lacks (see `tuimail.store.read.partial_body`):
    an attachment in one of those sections is not local, and its size comes from the server's
    encoded size. With nothing omitted every attachment is local. `parsed`: `raw` parsed
    already (`parse.parse_message`), when the caller has it.
    """
    if parsed is None:
        parsed = parse.parse_message(raw)
    missing = {part.section: part for part in omitted}
    if parsed.raw_only or not parsed.attachments:
        return []
    if not missing:
        return [ListedAttachment(info, True) for info in parsed.attachments]
    try:
        msg = BytesParser(policy=parse._parsing_policy()).parsebytes(raw)
        walker = _PartKeepingWalker()
        walker.walk(msg, None, "", 0)
        sections = _imap_sections(msg)
        parts = walker.parts
    except Exception:  # parse_message coped with these bytes; keep never-raise here too
        return [ListedAttachment(info, True) for info in parsed.attachments]
    listed = []
    for info, part in zip(parsed.attachments, parts, strict=False):
        gone = missing.get(sections.get(id(part), ""))
        if gone is None:
            listed.append(ListedAttachment(info, True))
        else:
            size = _decoded_estimate(part, gone.size)
            listed.append(ListedAttachment(dataclasses.replace(info, size=size), False))
    return listed


def partial_pieces(
    raw: bytes, omitted: Iterable[OmittedPart], tz: tzinfo | None = None
) -> list[Piece]:
    """The message view's content for a partial message: the body as for a full one, then
    the attachments, those not downloaded marked so. Sanitized, like `render.message_pieces`."""
    from tuimail.mail.render import attachment_line, message_pieces

    parsed = parse.parse_message(raw)
    if parsed.raw_only:
        return message_pieces(parsed, raw, tz)
    pieces = message_pieces(dataclasses.replace(parsed, attachments=()), raw, tz)
    lines = [
        attachment_line(item.info) + ("" if item.local else " (not downloaded)")
        for item in listed_attachments(raw, omitted, parsed)
    ]
    if lines:
        pieces.append("\n".join(lines))
    return pieces


def render_partial(raw: bytes, omitted: Iterable[OmittedPart]) -> str:
    """`partial_pieces` as plain text (what `tuimail show` prints)."""
    from tuimail.mail.render import pieces_text

    return pieces_text(partial_pieces(raw, omitted))


def carried_attachment(raw: bytes, index: int) -> CarriedAttachment | None:
    """Attachment `index` of a message, to carry into another one (an inline forward): its
    decoded bytes, name, type and charset as the message has them; None when there is no such
    attachment."""
    parsed = parse.parse_message(raw)
    payload = attachment_payload(raw, index)
    if payload is None:
        return None
    info = parsed.attachments[index]
    charset = None
    if info.content_type.startswith("text/"):
        try:
            msg = BytesParser(policy=parse._parsing_policy()).parsebytes(raw)
            walker = _PartKeepingWalker()
            walker.walk(msg, None, "", 0)
            charset = walker.parts[index].get_content_charset()
        except Exception:  # attachment_payload coped with this message; the charset is extra
            charset = None
    return CarriedAttachment(info.filename, info.content_type, payload, charset)


MAX_INLINE_IMAGE_BYTES = 16 * 1024 * 1024  # images put into a browser copy, all together
_IMAGE_TYPE = re.compile(r"image/[a-z0-9.+-]{1,40}")


def inline_images(raw: bytes) -> dict[str, str]:
    """The message's images that have a Content-ID (the ones its HTML shows as ``cid:``), as
    ``data:`` URIs by their id (without the angle brackets); up to MAX_INLINE_IMAGE_BYTES in
    all, later ones left out. Empty for a message over the parser's limits."""
    if parse.parse_message(raw).raw_only:
        return {}
    images: dict[str, str] = {}
    total = 0
    try:
        for part in BytesParser(policy=parse._parsing_policy()).parsebytes(raw).walk():
            content_type = part.get_content_type()
            cid = str(part.get("Content-ID", "")).strip().strip("<>").strip()
            if not cid or not _IMAGE_TYPE.fullmatch(content_type) or part.is_multipart():
                continue
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes) or total + len(data) > MAX_INLINE_IMAGE_BYTES:
                continue
            total += len(data)
            images[cid] = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
    except Exception:  # the parser already coped with this message; the images are extra
        return images
    return images
