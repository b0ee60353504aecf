"""Raw message bytes -> envelope, body text parts and attachment list.

Pure functions over bytes, built on the stdlib `email` package (`policy.default`). Every public
function here accepts any bytes at all and never raises: broken MIME, unknown charsets and
malformed headers are decoded as well as can be done, with a human-readable note in
`ParsedMessage.problems`. The stdlib parser is only handed messages that `limits` has measured
first; a message over a limit comes back with `raw_only=True` and an envelope decoded cheaply
from bounded previews of its header fields.

Strings in the results may contain control characters and escape sequences exactly as the sender
wrote them (the store keeps what was received); they reach the screen only through
`tuimail.mail.sanitize`. They never contain lone surrogates: bytes that are not valid in their
declared charset are decoded (UTF-8 first, then Windows-1252 byte by byte) or replaced, so the
strings can always be stored and encoded.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy, utils
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy
from functools import lru_cache
from typing import cast

from tuimail.core.model import Address, AttachmentInfo, Envelope
from tuimail.mail import limits
from tuimail.mail.sanitize import sanitize, sanitize_line


@dataclass(frozen=True, slots=True)
class TextPart:
    """A body candidate, decoded to str.

    `group` ties alternatives together: the parts of one multipart/alternative share a group
    (plain parts listed before HTML ones), and a text part outside any alternative has a group of
    its own. Groups appear in display order; show one representation per group.
    """

    content_type: str  # "text/plain" or "text/html"
    text: str  # decoded to str (charset handled; undecodable bytes replaced, never an exception)
    group: int = 0


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Everything the store and the message view need from one raw message."""

    envelope: Envelope  # size = len(raw)
    text_parts: tuple[TextPart, ...]  # body candidates in display order (see TextPart.group)
    attachments: tuple[AttachmentInfo, ...]
    problems: tuple[str, ...]  # human-readable notes: "Subject header too large", ...
    raw_only: bool  # True when a limit was exceeded: show the raw (sanitized) message instead


# --- text decoding -----------------------------------------------------------------------------

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


def _repair(text: str) -> str:
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
    text = _repair(text)
    return text if len(text) <= limit else text[:limit] + "..."


def _unflow(text: str, delsp: bool) -> str:
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


# --- headers -------------------------------------------------------------------------------------

_MSG_ID_RE = re.compile(r"<([^<>\s]{1,998})>")
_FOLD_RE = re.compile(r"\r?\n")
_ADDRESS_FIELDS = ("from", "to", "cc", "bcc", "reply-to")
# Fields decoded by the email package's header parser (costly on hostile input, so bounded).
_DECODED_FIELDS = frozenset({"subject", "content-disposition", *_ADDRESS_FIELDS})


def _unfold(value: str) -> str:
    return _FOLD_RE.sub("", value)


def _first_headers(msg: Message) -> dict[str, str]:
    """The raw (undecoded) value of the first occurrence of each header, by lower-case name."""
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        headers.setdefault(name.lower(), value if isinstance(value, str) else str(value))
    return headers


# The start of an RFC 2047 encoded word ("=?" alone also appears after base64 padding).
_ENCODED_WORD_START_RE = re.compile(r"=\?[^?\s]{1,80}\?[bBqQ]\?")


def _limit_problem(name: str, value: str) -> str | None:
    """Why a header field must not be handed to the decoder as it is, or None."""
    if len(value) > limits.MAX_FIELD_CHARS:
        return f"{name.title()} header too large"
    if value.count("=?") > limits.MAX_ENCODED_WORDS and (
        len(_ENCODED_WORD_START_RE.findall(value)) > limits.MAX_ENCODED_WORDS
    ):
        return f"too many encoded words in the {name.title()} header"
    return None


def _preview(value: str) -> str:
    """The start of an oversized field, cut at a space so no encoded word is cut in half."""
    value = _unfold(value)[: limits.PREVIEW_FIELD_CHARS]
    cut = value.rfind(" ")
    return value[:cut] if cut > 0 else value


def _bounded_field(headers: dict[str, str], name: str, problems: list[str]) -> str | None:
    """A raw header value safe to decode: the value itself, or a preview when over a limit."""
    value = headers.get(name)
    if value is None:
        return None
    problem = _limit_problem(name, value)
    if problem:
        problems.append(problem)
        return _preview(value)
    return value


# Plain printable ASCII with nothing to decode: the header parser would only unfold it.
_PLAIN_UNSTRUCTURED_RE = re.compile(r"[\t\r\n -~]*")


def _decode_unstructured(value: str) -> str:
    if "=?" not in value and _PLAIN_UNSTRUCTURED_RE.fullmatch(value):
        # The common case, decided without the (slow) header parser, with the same result.
        return value.replace("\r", "").replace("\n", "").strip()
    # Raw 8-bit bytes are turned into characters first: the header parser would replace any
    # that are not UTF-8 with U+FFFD.
    value = _repair(value)
    try:
        return _repair(str(policy.default.header_fetch_parse("subject", value))).strip()
    except Exception:
        return _repair(_unfold(value)).strip()


_CONTROL_CHAR_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ENCODED_WORD = r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?="
# White space between two encoded words, which RFC 2047 says to drop.
_SPACE_BETWEEN_ENCODED_WORDS_RE = re.compile(rf"({_ENCODED_WORD})\s+(?={_ENCODED_WORD})")


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words with the legacy (linear) decoder; unknown charsets stay."""
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:
        return text


def _legacy_addresses(value: str) -> list[tuple[str, str]]:
    try:
        pairs = utils.getaddresses([_unfold(value)])
    except Exception:  # RecursionError on deeply nested comments or groups
        return [(_unfold(value), "")]
    return [(_decode_words(name), addr) for name, addr in pairs]


# Address lists simple enough to read without the email package's parser: comma-separated
# "addr-spec" or "[phrase] <addr-spec>" of plain ASCII atoms, no quotes, comments, groups,
# encoded words or routes. Anything else goes to the parser; the results are the same.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
_PHRASE_WORD = rf"(?:{_ATEXT}|\.)+"
_PHRASE = rf"{_PHRASE_WORD}(?:[ \t]+{_PHRASE_WORD})*"
_SIMPLE_MAILBOX_RE = re.compile(
    rf"[ \t]*(?:({_ADDR_SPEC})|({_PHRASE})?[ \t]*<({_ADDR_SPEC})>)[ \t]*"
)
_NOT_SIMPLE_ADDRESS_RE = re.compile(r'[^\t\r\n -~]|[",;:()\\\[\]]|=\?')
_PHRASE_SPACE_RE = re.compile(r"[ \t]+")


def _simple_addresses(value: str) -> tuple[Address, ...] | None:
    """The addresses of a simple address list (see above), or None when it is not simple."""
    if "," in value:
        elements = value.replace("\r", "").replace("\n", "").split(",")
        if _NOT_SIMPLE_ADDRESS_RE.search("".join(elements)):
            return None
    else:
        if _NOT_SIMPLE_ADDRESS_RE.search(value):
            return None
        elements = [value.replace("\r", "").replace("\n", "")]
    addresses = []
    for element in elements:
        match = _SIMPLE_MAILBOX_RE.fullmatch(element)
        if match is None:
            return None
        bare, phrase, angle = match.groups()
        if bare is not None:
            addresses.append(Address(name="", email=bare))
        else:
            name = _PHRASE_SPACE_RE.sub(" ", phrase) if phrase else ""
            if name.startswith(".") or ".." in name:
                return None  # obsolete phrase forms: leave them to the parser
            addresses.append(Address(name=name, email=angle))
    return tuple(addresses)


@lru_cache(maxsize=4096)
def _decode_addresses(name: str, value: str) -> tuple[Address, ...]:
    """Decode an address-list field; a field the parser rejects falls back to the legacy one,
    and so does a long field (the legacy parser is linear in its length).

    Cached: the same few senders and recipients recur in every mailbox, and the result is
    immutable.
    """
    simple = _simple_addresses(value)
    if simple is not None:
        return simple
    value = _repair(value)
    if "?=" in value:
        # The email package keeps the space between adjacent encoded words in a display name
        # (it drops it in a Subject), so a name folded over two encoded words would come back
        # with a space in the middle: drop it here, as RFC 2047 says.
        value = _SPACE_BETWEEN_ENCODED_WORDS_RE.sub(r"\1", value)
    if _CONTROL_CHAR_RE.search(value):
        # Controls are not allowed in an address field and derail the parser (an escape
        # sequence would swallow the address): remove them, and whole sequences, first.
        value = sanitize_line(value)
    if len(value) > limits.MAX_STRICT_ADDRESS_CHARS:
        pairs = _legacy_addresses(value)
    else:
        try:
            header = policy.default.header_fetch_parse(name, value)
            pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
        except Exception:
            pairs = _legacy_addresses(value)
    addresses = []
    for display_name, addr_spec in pairs:
        display_name, addr_spec = _repair(display_name).strip(), _repair(addr_spec).strip()
        if addr_spec == "<>":
            addr_spec = ""
        if display_name or addr_spec:
            addresses.append(Address(name=display_name, email=addr_spec))
    return tuple(addresses)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    value = _unfold(value).strip()[:200]
    try:
        parsed = utils.parsedate_to_datetime(value)
    except Exception:
        return None
    if parsed.tzinfo is None:  # "-0000": time zone unknown; RFC 5322 says the time is UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _msg_ids(value: str | None) -> list[str]:
    """Message-IDs in a header value, without angle brackets, in order, without duplicates."""
    if not value:
        return []
    value = _repair(_unfold(value)[: limits.MAX_FIELD_CHARS])
    ids = list(dict.fromkeys(_MSG_ID_RE.findall(value)))
    if not ids:
        # Broken senders write a bare id: accept one token that looks like one.
        token = value.strip()
        if token and "@" in token and not any(c.isspace() for c in token) and len(token) < 999:
            ids = [token.strip("<>")]
    return ids


# A Content-Type whose type/subtype can be read without the header parser.
_SIMPLE_CONTENT_TYPE_RE = re.compile(
    r"[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*(?:;|\Z)"
)


def _has_attachments_guess(parsed: Callable[[], Message], headers: dict[str, str]) -> bool:
    """Without the body: a multipart/mixed message or an attachment disposition suggests one.

    `parsed` gives the header section parsed by the email package; it is only called for a
    Content-Type that is not simple.
    """
    content_type = headers.get("content-type", "")
    disposition = headers.get("content-disposition", "")
    if limits.part_field_problem("Content-Type", content_type):
        return False
    simple = _SIMPLE_CONTENT_TYPE_RE.match(content_type) if content_type else None
    try:
        if simple is not None:
            mixed = simple.group(1).lower() == "multipart/mixed"
        elif "content-type" not in headers:
            mixed = False  # the default type, text/plain
        else:
            mixed = parsed().get_content_type() == "multipart/mixed"
        if mixed:
            return True
    except Exception:
        return False
    return disposition.strip().lower().startswith("attachment")


def _envelope(
    headers: dict[str, str], size: int, has_attachments: bool, problems: list[str]
) -> tuple[Envelope, bool]:
    """The envelope from a message's first header values (`_first_headers`); the flag is True
    when a header was over a limit."""
    limit_problems: list[str] = []
    subject = _bounded_field(headers, "subject", limit_problems)
    addresses = {}
    for name in _ADDRESS_FIELDS:
        value = _bounded_field(headers, name, limit_problems)
        addresses[name] = _decode_addresses(name, value) if value is not None else ()
    message_ids = _msg_ids(headers.get("message-id"))
    in_reply_to = _msg_ids(headers.get("in-reply-to"))
    envelope = Envelope(
        message_id=message_ids[0] if message_ids else None,
        subject=_decode_unstructured(subject) if subject is not None else "",
        from_=addresses["from"],
        to=addresses["to"],
        cc=addresses["cc"],
        bcc=addresses["bcc"],
        reply_to=addresses["reply-to"],
        date=_parse_date(headers.get("date")),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=tuple(_msg_ids(headers.get("references"))),
        has_attachments=has_attachments,
        size=size,
    )
    problems.extend(limit_problems)
    return envelope, bool(limit_problems)


# A header field with its continuation lines (the bytes up to the next line not starting with
# white space); the name as RFC 5322 allows it.
_HEADER_FIELD_RE = re.compile(rb"^([!-9;-~]+)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*", re.MULTILINE)
_ENVELOPE_FIELDS = frozenset(
    {
        b"subject",
        b"from",
        b"to",
        b"cc",
        b"bcc",
        b"reply-to",
        b"date",
        b"message-id",
        b"in-reply-to",
        b"references",
        b"content-type",
        b"content-disposition",
    }
)


def _envelope_fields(raw: bytes) -> dict[bytes, bytes]:
    """The first occurrence of each header field an envelope needs, each cut to a bounded
    length, by lower-case name.

    Whatever the size of the header section, at most a dozen fields of at most
    MAX_FIELD_CHARS each are kept: an oversized field is still there (and reported as
    oversized) so its start can be decoded.
    """
    section = raw[: limits.header_section_end(raw)]
    kept: dict[bytes, bytes] = {}
    for match in _HEADER_FIELD_RE.finditer(section):
        name = match.group(1).lower()
        if name in _ENVELOPE_FIELDS and name not in kept:
            kept[name] = match.group(0)[: limits.MAX_FIELD_CHARS + 64].rstrip(b"\r")
    return kept


def _parse_headers(kept: dict[bytes, bytes]) -> Message:
    """The kept fields (`_envelope_fields`) through the email package's parser."""
    header = b"\n".join(kept.values()) + b"\n\n"
    return BytesParser(policy=policy.default).parsebytes(header, headersonly=True)


# A line end that is not CRLF or LF: the email package splits lines on it too.
_LONE_CR_RE = re.compile(rb"\r(?!\n)")


def _raw_field_values(kept: dict[bytes, bytes]) -> dict[str, str] | None:
    """What `_first_headers(_parse_headers(kept))` gives, without the parser, or None where the
    parser could read the fields differently (a space before the colon, a lone CR).

    The parser keeps a value as it was sent: ASCII with surrogate escapes for 8-bit bytes, the
    text after the colon without leading blanks, the line ends inside, none at the end.
    """
    headers: dict[str, str] = {}
    for name, field in kept.items():
        if field[len(name) : len(name) + 1] != b":" or (
            b"\r" in field and _LONE_CR_RE.search(field)
        ):
            return None
        value = field[len(name) + 1 :].decode("ascii", "surrogateescape")
        headers[name.decode("ascii")] = value.lstrip(" \t").rstrip("\r\n")
    return headers


def _envelope_from_headers(raw: bytes, problems: list[str]) -> Envelope:
    try:
        kept = _envelope_fields(raw)
        headers = _raw_field_values(kept)
        if headers is None:
            msg = _parse_headers(kept)
            headers = _first_headers(msg)
            attachments = _has_attachments_guess(lambda: msg, headers)
        else:
            attachments = _has_attachments_guess(lambda: _parse_headers(kept), headers)
        envelope, _ = _envelope(headers, len(raw), attachments, problems)
        return envelope
    except Exception as exc:  # last resort; the parser has no known way to get here
        problems.append(f"headers could not be read ({type(exc).__name__})")
        return Envelope(message_id=None, subject="", size=len(raw))


def parse_envelope(raw: bytes) -> Envelope:
    """The envelope from a message's header section alone (the fast path for header fetches).

    `raw` may be the header section or the whole message; `size` is len(raw), so a caller that
    fetched only the headers sets the real size itself. `has_attachments` is a guess from the
    headers (multipart/mixed); parsing the whole message later gives the real answer.
    """
    try:
        return _envelope_from_headers(bytes(raw), [])
    except Exception:
        return Envelope(message_id=None, subject="", size=len(raw))


# --- body ------------------------------------------------------------------------------------


def _payload_bytes(part: Message) -> bytes:
    """A leaf part's payload with its transfer encoding undone (best effort on broken input)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("ascii", "surrogateescape")
    return b""


def _decoded_size(part: Message) -> int:
    """Decoded size of a leaf part; base64 is measured without decoding it (exact when valid)."""
    payload = part.get_payload()
    if isinstance(payload, str) and part.get("content-transfer-encoding", "").lower() == "base64":
        chars = len(payload) - sum(payload.count(c) for c in "\r\n\t ")
        padding = len(payload.rstrip()) - len(payload.rstrip().rstrip("="))
        return max(0, (chars - padding) * 3 // 4)
    return len(_payload_bytes(part))


def _estimated_size(part: Message) -> int:
    """Encoded size of a container part (a forwarded message), from the parsed pieces."""
    total = 0
    for sub in part.walk():
        total += sum(len(name) + len(str(value)) + 4 for name, value in sub.raw_items())
        payload = sub.get_payload()
        if isinstance(payload, str):
            total += len(payload)
    return total


@dataclass(frozen=True, slots=True)
class _PartHeaders:
    """A part's Content-Type and Content-Disposition, each parsed once."""

    content_type: str  # lower case, "text/plain" when invalid (as the email package does)
    params: dict[str, str]  # Content-Type parameters (RFC 2231 decoded), lower-case names
    disposition: str | None  # "inline", "attachment", ... or None
    filename: str | None  # Content-Disposition filename, else Content-Type name


def _parsed_header(part: Message, name: str) -> tuple[str, dict[str, str]] | None:
    """A header's value before its parameters, and its parameters; None when absent."""
    try:
        header = part.get(name)
        if header is None:
            return None
        params = dict(getattr(header, "params", {}))
        return str(header).partition(";")[0].strip().lower(), params
    except Exception:  # a header the registry cannot parse: as if it were absent
        return None


def _part_headers(part: Message) -> _PartHeaders:
    # One parse per header: the parameter parser is costly, and a part is looked at often.
    content_type = _parsed_header(part, "content-type")
    if content_type is None:
        ctype, params = part.get_default_type(), dict[str, str]()
    else:
        ctype, params = content_type
        if ctype.count("/") != 1:
            ctype = "text/plain"
    disposition = _parsed_header(part, "content-disposition")
    filename = None
    if disposition is not None:
        filename = disposition[1].get("filename")
    if filename is None:
        filename = params.get("name")
    return _PartHeaders(
        content_type=ctype,
        params={key.lower(): str(value) for key, value in params.items()},
        disposition=disposition[0] if disposition else None,
        filename=None if filename is None else _repair(str(filename)).strip(),
    )


class _BodyWalker:
    """Walks the MIME tree once, sorting leaves into text parts and attachments."""

    def __init__(self) -> None:
        self.text_parts: list[TextPart] = []
        self.attachments: list[AttachmentInfo] = []
        self.problems: list[str] = []
        self.over_limit = False
        self._next_group = 0
        self._part_field_chars = 0  # Content-Disposition and -Transfer-Encoding, so far

    def _new_group(self) -> int:
        self._next_group += 1
        return self._next_group - 1

    def _over_limit(self, problem: str) -> None:
        self.problems.append(problem)
        self.over_limit = True

    def walk(self, part: Message, group: int | None, parent_type: str, depth: int) -> None:
        raw_headers = _first_headers(part)
        for name in ("Content-Disposition", "Content-Transfer-Encoding"):
            value = raw_headers.get(name.lower())
            if value is None:
                continue
            self._part_field_chars += len(value)
            problem = limits.part_field_problem(name, value) or _limit_problem(name, value)
            if problem is None and self._part_field_chars > limits.MAX_PART_FIELDS_CHARS:
                problem = f"{name} headers too large"
            if problem:
                self._over_limit(problem)
                return
        headers = _part_headers(part)
        maintype = headers.content_type.partition("/")[0]

        if maintype == "message" or (part.is_multipart() and maintype != "multipart"):
            self._attachment(part, headers, _estimated_size(part))
            return
        if part.is_multipart():
            if depth >= limits.MAX_DEPTH:
                self._over_limit(f"nesting too deep (over {limits.MAX_DEPTH} levels)")
                return
            if headers.content_type == "multipart/alternative" and group is None:
                group = self._new_group()
            # A multipart's payload is its list of parts (typeshed allows str items too).
            for child in cast("list[Message]", part.get_payload()):
                self.walk(child, group, headers.content_type, depth + 1)
            return
        self._leaf(part, headers, group, parent_type)

    def _leaf(
        self, part: Message, headers: _PartHeaders, group: int | None, parent_type: str
    ) -> None:
        content_type, filename = headers.content_type, headers.filename
        maintype = content_type.partition("/")[0]
        if maintype == "multipart":
            # A multipart whose boundary is missing or never appears: show what is there as text.
            self.problems.append("broken MIME structure (no parts found); shown as plain text")
            self._text(part, headers, "text/plain", group)
        elif headers.disposition == "attachment":
            self._attachment(part, headers)
        elif content_type in ("text/plain", "text/html"):
            self._text(part, headers, content_type, group)
        elif maintype == "text" and filename is None and group is None:
            self._text(part, headers, "text/plain", group)  # text/x-diff ... shown as is
        elif maintype == "text" and group is not None and filename is None:
            pass  # another representation in an alternative (text/calendar, ...): plain/HTML win
        elif filename is not None or parent_type != "multipart/related":
            self._attachment(part, headers)
        # else: an unnamed inline resource of an HTML body (an embedded image): nothing to list

    def _text(
        self, part: Message, headers: _PartHeaders, content_type: str, group: int | None
    ) -> None:
        params = headers.params
        text, problem = decode_bytes(_payload_bytes(part), params.get("charset"))
        if problem and problem not in self.problems:
            self.problems.append(problem)
        text = text.replace("\r\n", "\n")
        if headers.content_type == "text/plain" and params.get("format", "").lower() == "flowed":
            text = _unflow(text, delsp=params.get("delsp", "").lower() == "yes")
        self.text_parts.append(
            TextPart(content_type, text, self._new_group() if group is None else group)
        )

    def _attachment(self, part: Message, headers: _PartHeaders, size: int | None = None) -> None:
        self.attachments.append(
            AttachmentInfo(
                index=len(self.attachments),
                filename=headers.filename or "",
                content_type=_repair(headers.content_type),
                size=_decoded_size(part) if size is None else size,
            )
        )


class _OncePerValueRegistry(HeaderRegistry):
    """A header registry that parses each distinct header value once.

    The parser asks for a part's Content-Type about five times while it splits a message (and
    the walker once more), and each request parses the value again, at up to 7 µs per character.
    Header objects are immutable, so one per value can be shared within a message.
    """

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: str) -> BaseHeader:
        key = (name.lower(), value)
        header = self._parsed.get(key)
        if header is None:
            header = self._parsed[key] = super().__call__(name, value)
        return header


def _parsing_policy() -> Policy:
    """policy.default, with a fresh header cache (one per message, so memory stays bounded)."""
    return policy.default.clone(header_factory=_OncePerValueRegistry())


def _raw_only(raw: bytes, problems: list[str]) -> ParsedMessage:
    envelope = _envelope_from_headers(raw, problems)
    return ParsedMessage(envelope, (), (), tuple(dict.fromkeys(problems)), True)


def _parse(raw: bytes) -> ParsedMessage:
    problems: list[str] = []
    header_size = limits.header_section_end(raw)
    if header_size > limits.MAX_HEADER_BYTES:
        problems.append(f"header too large ({header_size} bytes)")
        return _raw_only(raw, problems)
    parsing_policy = _parsing_policy()
    report = limits.measure_structure(raw, parsing_policy)
    if report.problems:
        return _raw_only(raw, list(report.problems))

    msg = BytesParser(policy=parsing_policy).parsebytes(raw)
    walker = _BodyWalker()
    walker.walk(msg, None, "", 0)
    envelope, header_over_limit = _envelope(
        _first_headers(msg), len(raw), bool(walker.attachments), problems
    )
    if header_over_limit or walker.over_limit:
        problems.extend(walker.problems)
        return ParsedMessage(envelope, (), (), tuple(dict.fromkeys(problems)), True)
    problems.extend(walker.problems)
    # Within an alternative, plain text comes first (senders put the preferred, HTML, last).
    text_parts = sorted(
        walker.text_parts, key=lambda part: (part.group, part.content_type != "text/plain")
    )
    return ParsedMessage(
        envelope=envelope,
        text_parts=tuple(text_parts),
        attachments=tuple(walker.attachments),
        problems=tuple(dict.fromkeys(problems)),
        raw_only=False,
    )


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse a raw RFC 5322 message. Never raises, whatever the bytes; see the module docstring."""
    try:
        raw = bytes(raw)
    except Exception:
        raw = b""
    try:
        return _parse(raw)
    except Exception as exc:  # RecursionError, MemoryError, a parser bug: show it raw
        return _raw_only(raw, [f"message could not be parsed ({type(exc).__name__})"])


def search_text(parsed: ParsedMessage) -> str:
    """Plain body text for the full-text index: the displayed parts, HTML converted to text.

    Controls and escape sequences are removed (they would only pollute the index); a raw-only
    message has no parsed body and gives "".
    """
    from tuimail.mail import render  # render imports this module; import it when first needed

    chunks: list[str] = []
    budget = limits.MAX_SEARCH_CHARS
    for part in render.preferred_parts(parsed.text_parts):
        if budget <= 0:
            break
        text = part.text if part.content_type == "text/plain" else render.html_to_text(part.text)
        chunks.append(sanitize(text[:budget]).strip())
        budget -= len(chunks[-1])
    return "\n\n".join(chunk for chunk in chunks if chunk)
