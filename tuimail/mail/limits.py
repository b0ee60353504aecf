"""Bounds on what the parser and renderer take on, and the cheap check applied before parsing.

The stdlib `email` parser is not bounded: a 400 KB Subject made of adjacent encoded words takes
seconds, each part's Content-Type is parsed (several times) while the message is split into
parts, its header parser is quadratic in comments, and 1,000 levels of multipart nesting raise
RecursionError. So a message is measured here first, in one linear pass over its bytes, and only
handed to the parser when it is within these limits. A message over a limit is kept byte-exact
by the store and shown raw (sanitized) with a note.

The numbers are far above what real mail needs (a normal header section is a few KB, nesting
rarely passes 6 levels) and low enough that the worst message within them, measured shape by
shape on a 2-core machine, parses in under 0.4 s; the worst HTML part (512 KB of alternating
tags, most of it html.parser's own time) is walked and laid out in about 1.5 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email.policy import Policy

# The email package is imported where a structure is measured: the limits alone (a POP3 fetch's
# size check) should not load it, a noticeable part of a short command.

# --- parsing ---------------------------------------------------------------------------------
MAX_HEADER_BYTES = 256 * 1024
"""Size of the top-level header section (everything before the first empty line)."""

MAX_FIELD_CHARS = 64 * 1024
"""Length of one top-level header field that is decoded (Subject, address lists)."""

MAX_ENCODED_WORDS = 500
"""RFC 2047 encoded words in one header field (decoding them costs quadratic time)."""

MAX_STRICT_ADDRESS_CHARS = 4 * 1024
"""Longer address fields (up to MAX_FIELD_CHARS) are read with the email package's older
address parser, which is linear: the newer one is quadratic in comments and dots."""

MAX_PART_FIELD_CHARS = 2 * 1024
"""Length of a Content-Type or Content-Disposition field, anywhere in the message. These are
the fields whose cost multiplies with the number of parts. (An RFC 2231 file name of 255
bytes needs about 1 KB.)"""

MAX_PART_FIELDS_CHARS = 32 * 1024
"""Length of all Content-Type fields together, and of all Content-Disposition and
Content-Transfer-Encoding fields together (the parser needs up to 7 µs per character)."""

MAX_PART_FIELD_PARAMS = 24
"""Parameters in one Content-Type or Content-Disposition field: the stdlib's parameter parsing
is slow per parameter and worse than linear in their number. (A file name split by RFC 2231
into 70-character sections needs about a dozen.)"""

MAX_TRANSFER_ENCODING_CHARS = 64
"""Length of a Content-Transfer-Encoding value ("quoted-printable" is the longest name)."""

MAX_PART_FIELD_COMMENTS = 8
"""Comments ("(...)") in one of those fields: the parser's time grows with the square of their
number. Real mail has one at most ("charset=us-ascii (Plain Text)")."""

MAX_CONTENT_TYPE_PARAMS = 2000
"""Parameters of all Content-Type fields together (about 15 µs each)."""

MAX_DEPTH = 32
"""Nesting of multipart and message/* containers."""

MAX_PARTS = 500
"""MIME parts in one message."""

PREVIEW_FIELD_CHARS = 4096
"""How much of an oversized header field is still decoded for the envelope."""

# --- reading from a server ------------------------------------------------------------------
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
"""One message as a server sends it: a POP3 RETR answer, an IMAP literal. A larger one is
refused while it is read (never held whole), skipped and named; the others go on."""

MAX_COMMAND_BYTES = MAX_MESSAGE_BYTES + 64 * 1024 * 1024
"""Everything read for one IMAP command (its literals and lines together): one message at the
limit and room for the rest of the answer. Body FETCHes are batched by the sizes the server
gave, so only a server that understated them reaches this; the batch is then fetched again
one message at a time."""

# --- rendering -------------------------------------------------------------------------------
MAX_HTML_CHARS = 512 * 1024
"""HTML walked into the view's document (html.parser reads about 1 MB/s); the rest is cut with
a note."""

MAX_HTML_NESTING = 16
"""Nested lists and blockquotes that indent; deeper ones are flattened (the indent would
otherwise grow the output quadratically)."""

MAX_HTML_LINES = 10_000
"""Lines of an HTML part's text (blocks, line breaks and table rows, before wrapping); the rest
is cut with a note. The view draws about 15,000 lines a second."""

MAX_HTML_STYLE_RUNS = 10_000
"""Runs of differently styled text in an HTML part; text past them keeps no style (each run is
a segment the view handles on every redraw)."""

MAX_RENDER_CHARS = 1_000_000
"""Characters of body text in the message view; the rest is cut with a note."""

MAX_LINE_CHARS = 20_000
"""Longer lines in the message view are broken, so the view never lays out a megabyte line."""

MAX_RAW_VIEW_BYTES = 200 * 1024
"""Bytes of a raw message shown when it could not be parsed normally."""

MAX_SEARCH_CHARS = 256 * 1024
"""Body text handed to the full-text index."""


def part_field_problem(name: str, value: str | bytes) -> str | None:
    """Why a part's Content-Type, Content-Disposition or Content-Transfer-Encoding value must
    not be handed to the email package's parser, or None when it may."""
    if name.lower() == "content-transfer-encoding" and len(value) > MAX_TRANSFER_ENCODING_CHARS:
        return f"{name} header too large"
    if isinstance(value, bytes):
        semicolons, parens = value.count(b";"), value.count(b"(")
    else:
        semicolons, parens = value.count(";"), value.count("(")
    if (
        len(value) > MAX_PART_FIELD_CHARS
        or semicolons > MAX_PART_FIELD_PARAMS
        or parens > MAX_PART_FIELD_COMMENTS
    ):
        return f"{name} header too large"
    return None


@dataclass(frozen=True, slots=True)
class StructureReport:
    """What `measure_structure` found: the deepest nesting, the number of parts, and problems."""

    depth: int
    parts: int
    problems: tuple[str, ...]


# A Content-Type field at the start of a line, with its folded continuation lines.
_CONTENT_TYPE_RE = re.compile(rb"\ncontent-type[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)", re.IGNORECASE)
# A line that starts with "--": a candidate boundary delimiter.
_DELIMITER_RE = re.compile(rb"\n--([^\n]*)")


_EMPTY_LINE_RE = re.compile(rb"\n\r?\n")


def header_section_end(raw: bytes) -> int:
    """Offset of the end of the header section (the first empty line), or len(raw) if none."""
    if raw.startswith((b"\n", b"\r\n")):
        return 0
    # One scan that stops at the first empty line: looking for each line end apart would read
    # the whole message for the one its lines do not use.
    found = _EMPTY_LINE_RE.search(raw)
    return found.start() + 1 if found else len(raw)


def _content_type_of(value: bytes, email_policy: Policy) -> tuple[str, str | None]:
    """The content type and boundary the stdlib parser will see for one Content-Type value."""
    from email.message import EmailMessage

    # The same calls the parser makes (get_content_type, get_boundary), on a bounded value.
    holder = EmailMessage(policy=email_policy)
    holder.set_raw("Content-Type", value.decode("ascii", "surrogateescape").strip())
    try:
        return holder.get_content_type(), holder.get_boundary()
    except Exception:  # a header the parser cannot read: it falls back to text/plain too
        return "text/plain", None


def measure_structure(raw: bytes, email_policy: Policy | None = None) -> StructureReport:
    """Measure nesting depth and part count of a raw message cheaply, without the email parser.

    It looks at every Content-Type field and every line starting with ``--``, and follows the
    declared boundaries the way a MIME parser would. It may overestimate (a quoted header in a
    text body counts) but does not underestimate for the forms the stdlib parser understands.
    `email_policy` is the parser's (default: email.policy.default).
    """
    if email_policy is None:
        from email import policy

        email_policy = policy.default
    text = b"\n" + raw.replace(b"\r\n", b"\n")
    if b"\r" in text:  # the parser also splits lines at a lone CR
        text = text.replace(b"\r", b"\n")
    problems: list[str] = []

    declarations = list(_CONTENT_TYPE_RE.finditer(text))
    if len(declarations) > 2 * MAX_PARTS:
        return StructureReport(0, len(declarations), (f"too many parts ({len(declarations)})",))

    # Cheap checks first: nothing is parsed before every field and the totals are in bounds.
    for match in declarations:
        problem = part_field_problem("Content-Type", match.group(1))
        if problem:
            return StructureReport(0, 0, (problem,))
    params = sum(match.group(1).count(b";") for match in declarations)
    if params > MAX_CONTENT_TYPE_PARAMS:
        return StructureReport(0, 0, (f"too many Content-Type parameters ({params})",))
    total = sum(len(match.group(1)) for match in declarations)
    if total > MAX_PART_FIELDS_CHARS:
        return StructureReport(0, 0, (f"Content-Type headers too large ({total} bytes)",))

    # (position, kind, boundary): kind is "multipart" or "message" for declarations.
    events: list[tuple[int, str, bytes | None]] = []
    for match in declarations:
        value = match.group(1)
        lowered = value.lower()
        if b"multipart" not in lowered and b"message" not in lowered:
            continue  # a leaf part: it adds no nesting
        content_type, declared = _content_type_of(value, email_policy)
        if content_type.startswith("multipart/") and declared:
            events.append((match.start(), "multipart", declared.encode("ascii", "surrogateescape")))
        elif content_type.startswith("message/"):
            events.append((match.start(), "message", None))

    boundaries = {boundary for _, kind, boundary in events if kind == "multipart"}
    delimiters = 0
    if boundaries:
        for match in _DELIMITER_RE.finditer(text):
            line = match.group(1).rstrip(b" \t")
            if line in boundaries:
                events.append((match.start(), "delimiter", line))
            elif line.endswith(b"--") and line[:-2] in boundaries:
                events.append((match.start(), "close", line[:-2]))
            else:
                continue
            delimiters += 1
            if delimiters > 4 * MAX_PARTS:  # far more than any real message; stop counting
                return StructureReport(0, delimiters, (f"too many parts (over {delimiters})",))
    events.sort(key=lambda event: event[0])

    # Follow the nesting: each open container is on the stack; a delimiter of an outer boundary
    # closes everything opened inside it, as the parser does.
    stack: list[bytes | None] = []
    depth = parts = 0
    for _, kind, boundary in events:
        if kind in ("multipart", "message"):
            stack.append(boundary)
            depth = max(depth, len(stack))
            if depth > MAX_DEPTH:  # no need to follow it further (and the stack stays short)
                break
            continue
        if boundary not in stack:
            continue
        index = len(stack) - 1 - stack[::-1].index(boundary)
        if kind == "delimiter":
            del stack[index + 1 :]
            parts += 1
        else:
            del stack[index:]

    if depth > MAX_DEPTH:
        problems.append(f"nesting too deep (over {MAX_DEPTH} levels)")
    if parts > MAX_PARTS:
        problems.append(f"too many parts ({parts})")
    return StructureReport(depth, parts, tuple(problems))
