"""The receiving server's verdicts on a message (RFC 8601 Authentication-Results): SPF, DKIM and
DMARC, trusted only from the account's own server. Pure functions, bounded, never raising.

Anyone can write an Authentication-Results field into a message they send, so only fields whose
authserv-id is the one configured for the account (`accounts.NAME.authserv_id`) count, and of
those only the topmost ones: from the first such field down to the next Received field (RFC 8601
section 5: what the account's own server added sits above what came from outside; a server
that checks mail removes fields claiming its authserv-id from incoming mail, and a field below
its Received field was in the message before it arrived). With no authserv-id configured,
nothing is trusted.

A small parser of the field's grammar (section 2.2): comments (nested, bounded) and quoted
strings are read, `;` separates the results, each `method[/version]=result` with optional
`reason=` and `ptype.property=value` pairs. The standard library has no parser for it, and the
one on PyPI (`authres`) has had no release since 2019.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tuimail.mail import limits
from tuimail.mail.decode import decode_bytes

MAX_FIELD_CHARS = 8 * 1024  # a longer Authentication-Results field is not read
MAX_FIELDS_SCANNED = 500  # header fields looked at from the top
MAX_RESULTS = 32  # results read from one field
MAX_COMMENT_DEPTH = 8
METHODS = ("spf", "dkim", "dmarc")  # the verdicts shown, in this order
# Results a method may have (RFC 8601 section 2.7, RFC 7489 for dmarc); anything else is ignored.
RESULTS = frozenset(
    ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy")
)
_DOMAIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_KEYWORD_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})$")
_FIELD_RE = re.compile(r"^([!-9;-~]+)[ \t]*:(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One method's result as the account's server found it; `domain` is the DKIM signature's
    domain (header.d) or the domain SPF checked, when given and well formed."""

    method: str  # "spf", "dkim", "dmarc"
    result: str  # one of RESULTS
    domain: str = ""


def _strip_comments(text: str) -> str | None:
    """The text with its comments replaced by spaces and quoted strings kept (their quotes
    and escapes too); None when a comment is unclosed or nested too deep."""
    out: list[str] = []
    depth = 0
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if quoted:
            out.append(char)
            if char == "\\" and index + 1 < len(text):
                out.append(text[index + 1])
                index += 1
            elif char == '"':
                quoted = False
        elif depth:
            if char == "\\":
                index += 1
            elif char == "(":
                depth += 1
                if depth > MAX_COMMENT_DEPTH:
                    return None
            elif char == ")":
                depth -= 1
                if not depth:
                    out.append(" ")
        elif char == "(":
            depth = 1
        elif char == '"':
            quoted = True
            out.append(char)
        else:
            out.append(char)
        index += 1
    if depth or quoted:
        return None
    return "".join(out)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_field(value: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]] | None:
    """An Authentication-Results field's authserv-id and its results, each (method, result,
    properties: "header.d" -> "example.com", ...); None when the field is not well formed."""
    if len(value) > MAX_FIELD_CHARS:
        return None
    text = _strip_comments(value)
    if text is None:
        return None
    segments = _split_outside_quotes(text, ";")
    head = segments[0].split()
    if not head or len(head) > 2 or (len(head) == 2 and not head[1].isdigit()):
        return None
    authserv_id = _unquote(head[0])
    results: list[tuple[str, str, dict[str, str]]] = []
    for segment in segments[1 : 1 + MAX_RESULTS]:
        # "method / version = result reason=... ptype.prop=value": spaces around = and / allowed.
        words = re.sub(r"\s*([=/])\s*", r"\1", segment.strip()).split()
        if not words or words == ["none"]:
            continue
        method, _, result = words[0].partition("=")
        method = method.split("/", 1)[0].lower()
        result = result.lower()
        if not _KEYWORD_RE.match(method) or result not in RESULTS:
            continue  # not a result this parser can read: left out, never guessed
        properties: dict[str, str] = {}
        for word in words[1:]:
            name, equals, prop_value = word.partition("=")
            if equals and "." in name:
                properties.setdefault(name.lower(), _unquote(prop_value))
        results.append((method, result, properties))
    return authserv_id, results


def _header_fields(raw: bytes) -> list[tuple[str, str]]:
    """The header section's fields from the top, unfolded, bounded (not decoded: the grammar is
    ASCII; an encoded word is no part of it)."""
    end = limits.header_section_end(raw)
    section, _ = decode_bytes(raw[: min(end, limits.MAX_HEADER_BYTES)])
    fields: list[tuple[str, str]] = []
    for line in section.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            if len(value) <= MAX_FIELD_CHARS:
                fields[-1] = (name, value + " " + line.strip())
            continue
        if len(fields) >= MAX_FIELDS_SCANNED:
            break
        match = _FIELD_RE.match(line)
        if match is not None:
            fields.append((match.group(1).lower(), match.group(2).strip()))
    return fields


def _domain(method: str, properties: dict[str, str]) -> str:
    keys = {
        "dkim": ("header.d", "header.i"),
        "spf": ("smtp.mailfrom", "smtp.helo"),
        "dmarc": ("header.from",),
    }[method]
    for key in keys:
        value = properties.get(key, "").rsplit("@", 1)[-1].strip().lower()
        if _DOMAIN_RE.match(value):
            return value
    return ""


def verdicts(raw: bytes, authserv_id: str | None) -> list[Verdict]:
    """The SPF, DKIM and DMARC verdicts of the account's own server (`authserv_id`, compared
    without regard to case) in the message's topmost Authentication-Results fields; [] when
    none is configured or none is there. One verdict per method (DKIM: a pass, when one
    signature passed, else the first result)."""
    wanted = (authserv_id or "").strip().lower()
    if not wanted:
        return []
    found: dict[str, Verdict] = {}
    started = False
    for name, value in _header_fields(raw):
        if name == "received" and started:
            break  # below here: fields that came with the message from outside
        if name != "authentication-results":
            continue
        parsed = parse_field(value)
        if parsed is None or parsed[0].lower() != wanted:
            continue
        started = True
        for method, result, properties in parsed[1]:
            if method not in METHODS:
                continue
            verdict = Verdict(method, result, _domain(method, properties))
            before = found.get(method)
            if before is None or (method == "dkim" and result == "pass" != before.result):
                found[method] = verdict
    return [found[method] for method in METHODS if method in found]
