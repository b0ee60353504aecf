"""What the message view's pager does to a message's text, as pure functions: long quotes
folded, the links of a body listed, the full header section shown.

Everything here takes text that already went through `sanitize` (or sanitizes what it reads
from raw bytes) and returns plain text for the screen, never markup. Nothing is fetched.
"""

from __future__ import annotations

import contextlib
import re
from email.header import decode_header, make_header

from tuimail.mail import limits
from tuimail.mail.decode import decode_bytes
from tuimail.mail.headers import limit_problem
from tuimail.mail.sanitize import sanitize_line

# A run of quoted lines longer than this is folded to its first QUOTE_KEPT_LINES lines.
QUOTE_FOLD_LINES = 8
QUOTE_KEPT_LINES = 3
MAX_LINKS = 200  # a body listing more is a mailing of links: the first ones are enough
MAX_LINK_CHARS = 2048  # longer "links" are not handed to a browser
MAX_HEADER_FIELDS = 1000  # the full header section shown, at most this many fields
MAX_HEADER_VALUE_CHARS = limits.PREVIEW_FIELD_CHARS


def is_quoted(line: str) -> bool:
    """Whether a line is quoted: its first character other than a space is '>'."""
    return line.lstrip(" ").startswith(">")


def fold_marker(hidden: int, key: str) -> str:
    """The line that stands for `hidden` folded quoted lines; `key` shows them."""
    return f"[... {hidden} quoted lines, press {key} to show]"


def fold_quotes(
    text: str,
    key: str,
    *,
    longer_than: int = QUOTE_FOLD_LINES,
    kept: int = QUOTE_KEPT_LINES,
) -> str:
    """`text` with every run of more than `longer_than` quoted lines cut to its first `kept`
    lines and a marker line saying how many were left out and that `key` shows them."""
    lines = text.split("\n")
    out: list[str] = []
    run: list[str] = []

    def end_run() -> None:
        if len(run) > longer_than:
            out.extend(run[:kept])
            out.append(fold_marker(len(run) - kept, key))
        else:
            out.extend(run)
        run.clear()

    for line in lines:
        if is_quoted(line):
            run.append(line)
            continue
        end_run()
        out.append(line)
    end_run()
    return "\n".join(out)


def has_long_quotes(text: str, *, longer_than: int = QUOTE_FOLD_LINES) -> bool:
    """Whether `fold_quotes` would fold anything in `text`."""
    count = 0
    for line in text.split("\n"):
        count = count + 1 if is_quoted(line) else 0
        if count > longer_than:
            return True
    return False


# http(s) links, up to white space or a character that cannot be part of one in running text.
_LINK_RE = re.compile(r"""https?://[^\s<>"'`\[\]{}|\\^]+""", re.IGNORECASE)
_TRAILING = ".,;:!?*_~"  # sentence punctuation after a link, not part of it


def _trim(link: str) -> str:
    """A link without the punctuation that ends the sentence it is in, nor an unbalanced ')'."""
    while link:
        unbalanced = link.endswith(")") and link.count(")") > link.count("(")
        if link[-1] not in _TRAILING and not unbalanced:
            break
        link = link[:-1]
    return link


def find_links(text: str) -> list[str]:
    """The http and https links in a (sanitized) body, in order, each once; at most MAX_LINKS."""
    found: list[str] = []
    seen: set[str] = set()
    for match in _LINK_RE.finditer(text):
        link = _trim(match.group())
        if len(link) <= len("https://") or len(link) > MAX_LINK_CHARS or link in seen:
            continue
        seen.add(link)
        found.append(link)
        if len(found) >= MAX_LINKS:
            break
    return found


_FIELD_START_RE = re.compile(r"^([^\s:]+)[ \t]*:(.*)$")


def header_fields(raw: bytes) -> list[tuple[str, str]]:
    """Every field of a message's header section, in order, as (name, value) for the screen:
    unfolded, encoded words decoded, sanitized to one line and bounded."""
    end = limits.header_section_end(raw)
    section, _ = decode_bytes(raw[: min(end, limits.MAX_HEADER_BYTES)])
    fields: list[tuple[str, list[str]]] = []
    for line in section.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1][1].append(line.strip())
            continue
        match = _FIELD_START_RE.match(line)
        if match is None:
            continue  # not a field (a broken header section): left out
        if len(fields) >= MAX_HEADER_FIELDS:
            break
        fields.append((match.group(1), [match.group(2).strip()]))
    return [(sanitize_line(name), _value(name, " ".join(parts))) for name, parts in fields]


def _value(name: str, value: str) -> str:
    """A field's value for the screen: encoded words decoded unless it is over a limit."""
    if "=?" in value and limit_problem(name, value) is None:
        # An unknown charset or a broken word: the value as it is.
        with contextlib.suppress(Exception):
            value = str(make_header(decode_header(value)))
    value = sanitize_line(value)
    if len(value) > MAX_HEADER_VALUE_CHARS:
        value = value[:MAX_HEADER_VALUE_CHARS] + " […]"
    return value
