"""Bytes in a declared charset -> text that can always be stored and shown after sanitizing.

Unknown or refused charsets, and bytes not valid in theirs, are decoded as well as can be done
(UTF-8 first, then Windows-1252 byte by byte) or replaced, never raising; the results never hold
lone surrogates. Also the format=flowed unfolding of plain text (RFC 3676).
"""

from __future__ import annotations

import codecs
import re

# Labels whose text is, in practice, often in a superset: decode with the superset, as web
# browsers do (WHATWG Encoding Standard). Keys are Python codec names.
_SUPERSETS = {
    "ascii": "utf-8",  # 8-bit bytes in "us-ascii" mail are nearly always UTF-8 (or cp1252)
    "iso8859-1": "cp1252",  # curly quotes and the euro sign instead of C1 controls
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
}
# Python codecs that are not mail charsets (they interpret escapes or labels, not text).
_REFUSED_CODECS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"}
)
_MAX_CHARSET_LABEL = 64

# Undecodable bytes, carried as surrogate escapes, become their Windows-1252 character (the usual
# mislabelled charset); the five bytes cp1252 leaves undefined become U+FFFD.
_LONE_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _cp1252_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return "\ufffd"


_ESCAPED_BYTE = {chr(0xDC00 + byte): _cp1252_char(byte) for byte in range(0x80, 0x100)}


def _escaped_byte_to_char(match: re.Match[str]) -> str:
    return _ESCAPED_BYTE.get(match.group(), "\ufffd")


def _codec_for(charset: str | None) -> str | None:
    """The Python codec to decode a declared charset with, or None when it is unusable."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    if not label or len(label) > _MAX_CHARSET_LABEL:
        return None
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if info.name in _REFUSED_CODECS or not getattr(info, "_is_text_encoding", True):
        return None
    return _SUPERSETS.get(info.name, info.name)


def _utf8_with_fallback(data: bytes) -> str:
    """UTF-8 where the bytes are valid UTF-8, Windows-1252 byte by byte where they are not."""
    text = data.decode("utf-8", "surrogateescape")
    return _LONE_SURROGATE_RE.sub(_escaped_byte_to_char, text)


def decode_bytes(data: bytes, charset: str | None = None) -> tuple[str, str | None]:
    """Decode body bytes in their declared charset; returns the text and a problem note or None.

    An unknown or unusable charset falls back to UTF-8; bytes invalid in the charset are decoded
    byte by byte as Windows-1252 (for UTF-8 and unknown charsets) or replaced with U+FFFD.
    """
    codec = _codec_for(charset)
    problem = None
    if charset and codec is None:
        problem = f"unknown charset {_short(charset)!r}, decoded as UTF-8"
        codec = "utf-8"
    elif codec is None:
        codec = "utf-8"
    try:
        return data.decode(codec), problem
    except UnicodeDecodeError:
        pass
    except Exception:  # a codec that fails in another way: treat the charset as unknown
        codec = "utf-8"
    label = _short(charset or "utf-8")
    if codec == "utf-8":
        note = problem or f"text is not valid {label}; invalid bytes read as Windows-1252"
        return _utf8_with_fallback(data), note
    note = problem or f"text is not valid {label}; some characters replaced"
    try:
        return data.decode(codec, "replace"), note
    except Exception:
        return _utf8_with_fallback(data), note


def repair(text: str) -> str:
    """Turn surrogate escapes left by the email package (8-bit header bytes, unknown charsets in
    encoded words) into characters: UTF-8 if the bytes are UTF-8, else Windows-1252 per byte."""
    if not _LONE_SURROGATE_RE.search(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return _LONE_SURROGATE_RE.sub(_escaped_byte_to_char, text)


def _short(text: str, limit: int = 40) -> str:
    """A bounded, surrogate-free excerpt of untrusted text for a problem note."""
    text = repair(text)
    return text if len(text) <= limit else text[:limit] + "..."


def unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676) into paragraphs."""
    lines_out: list[str] = []
    paragraph: list[str] = []
    paragraph_depth = 0

    def flush() -> None:
        if paragraph:
            prefix = ">" * paragraph_depth + (" " if paragraph_depth else "")
            lines_out.append(prefix + "".join(paragraph))
            paragraph.clear()

    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):  # space-stuffing
            content = content[1:]
        if content == "-- ":  # signature separator: always a hard break
            flush()
            lines_out.append(">" * depth + (" " if depth else "") + content)
            continue
        if paragraph and depth != paragraph_depth:
            flush()
        paragraph_depth = depth
        soft = content.endswith(" ")
        if soft and delsp:
            content = content[:-1]
        paragraph.append(content)
        if not soft:
            flush()
    flush()
    return "\n".join(lines_out)
