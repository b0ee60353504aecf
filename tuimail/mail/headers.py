"""Header fields -> the envelope: addresses, subject, date, message ids, the attachment guess.

Fields are measured against `limits` before the email package's header parser sees them (it is
costly on hostile input); simple fields take fast paths that give the parser's result. Like
`parse`, every function accepts any bytes and never raises; problems become notes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email import utils
from functools import lru_cache
from typing import TYPE_CHECKING

from tuimail.core.model import Address, Envelope
from tuimail.mail import limits
from tuimail.mail.decode import repair
from tuimail.mail.sanitize import sanitize_line

if TYPE_CHECKING:
    from email.message import Message

# The email package's header parser (email.policy, email.parser) is imported by the paths that
# need it: the common headers are read without it, and a sync that finds nothing new, which
# reads one Message-ID to check a folder, starts faster without it.

_MSG_ID_RE = re.compile(r"<([^<>\s]{1,998})>")
_FOLD_RE = re.compile(r"\r?\n")
_ADDRESS_FIELDS = ("from", "to", "cc", "bcc", "reply-to")
# Fields decoded by the email package's header parser (costly on hostile input, so bounded).
_DECODED_FIELDS = frozenset({"subject", "content-disposition", *_ADDRESS_FIELDS})


def _unfold(value: str) -> str:
    return _FOLD_RE.sub("", value)


def first_headers(msg: Message) -> dict[str, str]:
    """The raw (undecoded) value of the first occurrence of each header, by lower-case name."""
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        headers.setdefault(name.lower(), value if isinstance(value, str) else str(value))
    return headers


# The start of an RFC 2047 encoded word ("=?" alone also appears after base64 padding).
_ENCODED_WORD_START_RE = re.compile(r"=\?[^?\s]{1,80}\?[bBqQ]\?")


def limit_problem(name: str, value: str) -> str | None:
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
    problem = limit_problem(name, value)
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
    value = repair(value)
    from email import policy

    try:
        return repair(str(policy.default.header_fetch_parse("subject", value))).strip()
    except Exception:
        return repair(_unfold(value)).strip()


_CONTROL_CHAR_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ENCODED_WORD = r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?="
# White space between two encoded words, which RFC 2047 says to drop.
_SPACE_BETWEEN_ENCODED_WORDS_RE = re.compile(rf"({_ENCODED_WORD})\s+(?={_ENCODED_WORD})")


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words with the legacy (linear) decoder; unknown charsets stay."""
    if "=?" not in text:
        return text
    from email.header import decode_header, make_header

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
# "addr-spec" or "[phrase] <addr-spec>" of plain ASCII atoms and whole encoded words (UTF-8,
# ASCII or Latin-1, cleanly encoded), no quotes, comments, groups or routes. Anything else goes
# to the parser; the results are the same (tests/unit/mail/test_parse_fastpaths.py).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
_PHRASE_WORD = rf"(?:{_ATEXT}|\.)+"
_PHRASE = rf"{_PHRASE_WORD}(?:[ \t]+{_PHRASE_WORD})*"
_SIMPLE_MAILBOX_RE = re.compile(
    rf"[ \t]*(?:({_ADDR_SPEC})|({_PHRASE})?[ \t]*<({_ADDR_SPEC})>)[ \t]*"
)
_NOT_SIMPLE_ADDRESS_RE = re.compile(r'[^\t\r\n -~]|[",;:()\\\[\]]')
# A whole encoded word of a display name, in a charset and form decoded here exactly as the
# email package decodes it (anything else, such as a bad escape or padding, goes to the parser).
_SIMPLE_ENCODED_WORD_RE = re.compile(
    r"=\?(utf-8|us-ascii|iso-8859-1)\?(?:[qQ]\?((?:[!-<>@-~]|=[0-9A-Fa-f]{2})*)"
    r"|[bB]\?((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?))\?=",
    re.IGNORECASE,
)
_Q_ESCAPE_RE = re.compile(rb"=([0-9A-Fa-f]{2})")
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
            if "=?" in bare:
                return None
            addresses.append(Address(name="", email=bare))
        else:
            name = _PHRASE_SPACE_RE.sub(" ", phrase) if phrase else ""
            if name.startswith(".") or ".." in name or "=?" in angle:
                return None  # obsolete phrase forms: leave them to the parser
            if "=?" in name:
                decoded = _simple_encoded_phrase(name)
                if decoded is None:
                    return None
                name = decoded
            addresses.append(Address(name=name, email=angle))
    return tuple(addresses)


def _simple_encoded_phrase(phrase: str) -> str | None:
    """A display name of atoms and whole encoded words, decoded (adjacent encoded words are
    joined without the space between them, RFC 2047 section 6.2); None when a word is not
    one `_SIMPLE_ENCODED_WORD_RE` accepts, or decodes to something the parser might treat
    otherwise (control characters, white space at either end)."""
    out: list[str] = []
    previous_encoded = False
    for word in phrase.split(" "):
        if "=?" not in word:
            out.append((" " if out else "") + word)
            previous_encoded = False
            continue
        match = _SIMPLE_ENCODED_WORD_RE.fullmatch(word)
        if match is None:
            return None
        charset, q_text, b_text = match.groups()
        try:
            if q_text is not None:
                data = _Q_ESCAPE_RE.sub(
                    lambda m: bytes([int(m.group(1), 16)]), q_text.replace("_", " ").encode()
                )
            else:
                data = base64.b64decode(b_text, validate=True)
            text = data.decode("utf-8" if charset.lower() == "utf-8" else charset.lower())
        except (ValueError, UnicodeDecodeError):
            return None
        if not text or text != text.strip() or _CONTROL_CHAR_RE.search(text):
            return None
        out.append(("" if previous_encoded or not out else " ") + text)
        previous_encoded = True
    return "".join(out)


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
    value = repair(value)
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
        from email import policy

        try:
            header = policy.default.header_fetch_parse(name, value)
            pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
        except Exception:
            pairs = _legacy_addresses(value)
    addresses = []
    for display_name, addr_spec in pairs:
        display_name, addr_spec = repair(display_name).strip(), repair(addr_spec).strip()
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
    value = repair(_unfold(value)[: limits.MAX_FIELD_CHARS])
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


def build_envelope(
    headers: dict[str, str], size: int, has_attachments: bool, problems: list[str]
) -> tuple[Envelope, bool]:
    """The envelope from a message's first header values (`first_headers`); the flag is True
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
    from email import policy
    from email.parser import BytesParser

    header = b"\n".join(kept.values()) + b"\n\n"
    return BytesParser(policy=policy.default).parsebytes(header, headersonly=True)


# A line end that is not CRLF or LF: the email package splits lines on it too.
_LONE_CR_RE = re.compile(rb"\r(?!\n)")


def _raw_field_values(kept: dict[bytes, bytes]) -> dict[str, str] | None:
    """What `first_headers(_parse_headers(kept))` gives, without the parser, or None where the
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


def envelope_from_headers(raw: bytes, problems: list[str]) -> Envelope:
    """The envelope from the header fields of `raw`, decoded from bounded previews where a
    field is over a limit; notes go to `problems`. Never raises."""
    try:
        kept = _envelope_fields(raw)
        headers = _raw_field_values(kept)
        if headers is None:
            msg = _parse_headers(kept)
            headers = first_headers(msg)
            attachments = _has_attachments_guess(lambda: msg, headers)
        else:
            attachments = _has_attachments_guess(lambda: _parse_headers(kept), headers)
        envelope, _ = build_envelope(headers, len(raw), attachments, problems)
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
        return envelope_from_headers(bytes(raw), [])
    except Exception:
        return Envelope(message_id=None, subject="", size=len(raw))
