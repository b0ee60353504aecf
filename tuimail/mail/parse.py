"""Raw message bytes -> envelope, body text parts and attachment list.

The body walk and the limits are here; the header fields are decoded by `headers` (which also
gives `parse_envelope`, the envelope alone) and the text by `decode`.

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

from dataclasses import dataclass
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy
from typing import cast

from tuimail.core.model import AttachmentInfo, Envelope
from tuimail.mail import limits
from tuimail.mail.decode import decode_bytes, repair, unflow
from tuimail.mail.headers import build_envelope, envelope_from_headers, first_headers, limit_problem


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
        filename=None if filename is None else repair(str(filename)).strip(),
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
        raw_headers = first_headers(part)
        for name in ("Content-Disposition", "Content-Transfer-Encoding"):
            value = raw_headers.get(name.lower())
            if value is None:
                continue
            self._part_field_chars += len(value)
            problem = limits.part_field_problem(name, value) or limit_problem(name, value)
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
            text = unflow(text, delsp=params.get("delsp", "").lower() == "yes")
        self.text_parts.append(
            TextPart(content_type, text, self._new_group() if group is None else group)
        )

    def _attachment(self, part: Message, headers: _PartHeaders, size: int | None = None) -> None:
        self.attachments.append(
            AttachmentInfo(
                index=len(self.attachments),
                filename=headers.filename or "",
                content_type=repair(headers.content_type),
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
    envelope = envelope_from_headers(raw, problems)
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
    envelope, header_over_limit = build_envelope(
        first_headers(msg), len(raw), bool(walker.attachments), problems
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
