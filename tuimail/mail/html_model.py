"""The styled document an HTML part becomes (`html_text.parse_html` builds it): blocks of
styled spans, data tables and the numbered links, and the same as plain text.

It names styles ("bold", "link", ...), not colours: the UI picks those from the theme. The text
in it has been sanitized by the walk that built it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A run of text with its styles: a subset of "bold", "italic", "underline", "strike",
    "code", "link" (a link's text), "link-number" (its ``[n]``), "image" (alt text)."""

    text: str
    styles: frozenset[str] = frozenset()


@dataclass(slots=True)
class Block:
    """A paragraph-like block. Its first line starts with `indent` spaces and `marker` (a list
    bullet or number); the lines after it with `indent + len(marker)` spaces. `quote` is the
    depth of blockquotes around it; `gap` asks for a blank line before it."""

    spans: list[Span]
    kind: str = "text"  # "text", "heading", "pre" (keep its lines) or "rule"
    level: int = 0  # of a heading, 1-6
    quote: int = 0
    indent: int = 0
    marker: str = ""
    gap: bool = False


@dataclass(slots=True)
class Table:
    """A data table: rows of cells, each cell a list of spans ("\\n" spans break its lines).
    The first `header_rows` rows are headers (their cells were all <th>)."""

    rows: list[list[list[Span]]]
    header_rows: int = 0
    quote: int = 0
    indent: int = 0
    gap: bool = True


@dataclass(slots=True)
class HtmlDocument:
    """Blocks and tables in reading order, the URLs of the numbered links (``[1]`` is
    ``links[0]``), and a note when the HTML was cut."""

    blocks: list[Block | Table] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    note: str = ""

    def plain_text(self) -> str:
        """The document as plain text: no markup syntax, tables as aligned columns, the link
        list after the text."""
        lines: list[str] = []
        for block in self.blocks:
            if block.gap and lines and lines[-1] != "":
                lines.append("")
            quote = "> " * block.quote
            if isinstance(block, Table):
                lines.extend(quote + " " * block.indent + row for row in table_rows(block))
                continue
            if block.kind == "rule":
                lines.append(quote + "─" * 20)
                continue
            text = "".join(span.text for span in block.spans)
            rest = " " * (block.indent + len(block.marker))
            for number, line in enumerate(text.split("\n")):
                lead = " " * block.indent + block.marker if number == 0 else rest
                lines.append((quote + lead + line).rstrip())
        lines.extend(link_lines(self.links, blank=bool(lines)))
        if self.note:
            lines.extend(["", self.note])
        return "\n".join(lines).strip("\n")


def link_lines(links: list[str], *, blank: bool) -> list[str]:
    """The numbered link list shown after a document's text (a blank line first if `blank`)."""
    if not links:
        return []
    return ([""] if blank else []) + [f"[{n}] {url}" for n, url in enumerate(links, 1)]


def cell_text(cell: list[Span]) -> str:
    """A table cell's text on one line."""
    return " ".join("".join(span.text for span in cell).split())


def text_width(text: str) -> int:
    """Columns `text` takes in a terminal (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table_rows(table: Table, max_width: int = 120) -> list[str]:
    """A table as plain text lines: aligned columns when they fit in `max_width`, else each
    row's cells separated by " | "."""
    texts = [[cell_text(cell) for cell in row] for row in table.rows]
    columns = max((len(row) for row in texts), default=0)
    widths = [0] * columns
    for row in texts:
        for index, text in enumerate(row):
            widths[index] = max(widths[index], text_width(text))
    if sum(widths) + 2 * (columns - 1) > max_width:
        return [" | ".join(row) for row in texts]
    out = []
    for row in texts:
        cells = [text + " " * (widths[i] - text_width(text)) for i, text in enumerate(row)]
        out.append("  ".join(cells).rstrip())
    return out
