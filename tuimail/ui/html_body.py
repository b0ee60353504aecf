"""The message view's body as styled text: plain parts with quoted lines coloured, HTML parts
(`mail.html_model.HtmlDocument`) laid out at the view's width (`widgets.body_view` lays them
out again when the width changes).

An HTML document is drawn the way a terminal mail reader does: headings bold (the first two
levels underlined), emphasis as bold / italic / underline / strike, lists with their bullets or
numbers and a hanging indent, quoted parts behind ``> `` in the theme's quote colours, data
tables drawn with box lines (a table too wide for the view becomes one line of cells per row),
links numbered in the text and listed after it. The spans' text was sanitized by the mail layer
and is only ever put into `rich.text.Text` objects, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.style import Style
from rich.table import Table as RichTable
from rich.text import Text

from tuimail.mail.html_model import Block, HtmlDocument, Span, Table, cell_text
from tuimail.ui.format import body_text

MAX_DRAWN_CELLS = 2000  # a table with more cells is shown as lines of cells (drawing is slow)
MIN_COLUMN_WIDTH = 6  # columns narrower than this on average: the table is shown as lines
MIN_TEXT_WIDTH = 12  # indentation never leaves less than this for the text


@dataclass(frozen=True, slots=True)
class HtmlStyles:
    """The theme's colours for an HTML body."""

    link: str = ""
    border: str = ""
    quotes: tuple[str, ...] = ()

    @classmethod
    def from_theme(cls, variables: Mapping[str, str]) -> HtmlStyles:
        """The styles from the app's theme variables."""
        quotes = tuple(variables[k] for k in ("quote-1", "quote-2", "quote-3") if k in variables)
        return cls(
            link=variables.get("primary", ""),
            border=variables.get("secondary", ""),
            quotes=quotes,
        )

    def quote(self, depth: int) -> str:
        """The colour of text quoted `depth` levels deep ("" for none)."""
        if not depth or not self.quotes:
            return ""
        return self.quotes[(depth - 1) % len(self.quotes)]


def _quote_marks(depth: int, width: int) -> str:
    """The marks before a line quoted `depth` deep: "> > ", or ">> " or fewer when the view
    is too narrow for them and MIN_TEXT_WIDTH of text."""
    if not depth:
        return ""
    for marks in ("> " * depth, ">" * depth + " "):
        if len(marks) + MIN_TEXT_WIDTH <= width:
            return marks
    return ">" * max(min(depth, width - MIN_TEXT_WIDTH - 1), 1) + " "


def _span_style(styles: frozenset[str], colours: HtmlStyles) -> Style:
    style = Style(
        bold="bold" in styles or None,
        italic="italic" in styles or "image" in styles or None,
        underline="underline" in styles or "link" in styles or None,
        strike="strike" in styles or None,
        dim="link-number" in styles or "image" in styles or None,
        reverse=None,
    )
    if ("link" in styles or "link-number" in styles) and colours.link:
        style += Style(color=colours.link)
    if "code" in styles:
        style += Style(bold=True) if not colours.border else Style(color=colours.border)
    return style


def _spans_text(spans: Iterable[Span], colours: HtmlStyles, base: str = "") -> Text:
    text = Text(style=base, end="")
    for span in spans:
        text.append(span.text, style=_span_style(span.styles, colours))
    return text


class HtmlBody:
    """One HTML document laid out as lines of a given width."""

    def __init__(self, document: HtmlDocument, colours: HtmlStyles) -> None:
        self.document = document
        self.colours = colours

    def lines(self, console: Console, width: int) -> list[Text]:
        """The document as lines of at most `width` cells."""
        out: list[Text] = []
        for block in self.document.blocks:
            if block.gap and out and out[-1].plain:
                out.append(Text(""))
            marks = _quote_marks(block.quote, width)
            prefix = Text(marks, style=self.colours.quote(block.quote), end="")
            if isinstance(block, Table):
                indent = min(block.indent, max(width - len(marks) - MIN_TEXT_WIDTH, 0))
                body = self._table(console, block, width - len(marks) - indent)
                lead = Text(" " * indent, end="")
                out.extend(Text.assemble(prefix, lead, line, end="") for line in body)
            elif block.kind == "rule":
                out.append(Text.assemble(prefix, ("─" * max(width - prefix.cell_len, 1), "dim")))
            else:
                out.extend(self._block(console, block, prefix, width))
        links = self.document.links
        if links:
            if out:
                out.append(Text(""))
            for number, url in enumerate(links, 1):
                line = Text(f"[{number}] ", style="dim", end="")
                line.append(url, style=Style(color=self.colours.link or None))
                out.extend(line.wrap(console, width, overflow="fold"))
        if self.document.note:
            out.extend([Text(""), Text(self.document.note, style="italic")])
        for line in out:
            line.no_wrap = True
            line.end = ""
        return out

    def _block(self, console: Console, block: Block, prefix: Text, width: int) -> list[Text]:
        base = self.colours.quote(block.quote)
        text = _spans_text(block.spans, self.colours, base)
        if block.kind == "heading":
            text.stylize(Style(bold=True, underline=block.level <= 2))
        indent = min(block.indent, max(width - prefix.cell_len - MIN_TEXT_WIDTH, 0))
        first = Text.assemble(prefix, " " * indent, (block.marker, base), end="")
        rest = Text.assemble(prefix, " " * (indent + len(block.marker)), end="")
        room = max(width - rest.cell_len, 1)
        lines = text.wrap(console, room, overflow="fold", no_wrap=False)
        for line in lines:
            line.rstrip()
        return [
            Text.assemble(first if number == 0 else rest, line, end="")
            for number, line in enumerate(lines)
        ]

    def _table(self, console: Console, table: Table, width: int) -> list[Text]:
        width = max(width, 1)
        columns = max((len(row) for row in table.rows), default=0)
        cells = sum(len(row) for row in table.rows)
        if not columns:
            return []
        if cells > MAX_DRAWN_CELLS or columns * MIN_COLUMN_WIDTH + 1 > width:
            return self._table_as_lines(console, table, width)
        drawn = RichTable(
            box=box.SQUARE,
            show_header=table.header_rows > 0,
            border_style=Style(color=self.colours.border or None),
            header_style=Style(bold=True),
            show_edge=True,
            pad_edge=True,
        )
        first = table.rows[0] if table.header_rows else []
        for index in range(columns):
            header = first[index] if index < len(first) else []
            drawn.add_column(_spans_text(header, self.colours), overflow="fold")
        for number, row in enumerate(table.rows):
            if table.header_rows and number == 0:
                continue
            style = Style(bold=True) if number < table.header_rows else None
            texts = [_spans_text(cell, self.colours) for cell in row]
            texts += [Text("")] * (columns - len(row))
            drawn.add_row(*texts, style=style)
        options = console.options.update(width=width, max_width=width)
        rendered = console.render_lines(drawn, options, pad=False)
        return [
            Text.assemble(*((seg.text, seg.style or "") for seg in line if not seg.control), end="")
            for line in rendered
        ]

    def _table_as_lines(self, console: Console, table: Table, width: int) -> list[Text]:
        """A table that cannot be drawn in `width`: each row one paragraph, cells between │."""
        out: list[Text] = []
        separator = Text(" │ ", style=Style(color=self.colours.border or None))
        for number, row in enumerate(table.rows):
            line = separator.join(Text(cell_text(cell)) for cell in row)
            if number < table.header_rows:
                line.stylize("bold")
            out.extend(line.wrap(console, width, overflow="fold"))
        return out


def pieces_text(
    pieces: Sequence[str | HtmlDocument], variables: Mapping[str, str], console: Console, width: int
) -> Text:
    """The message view's body as one `Text`: sanitized plain pieces (wrapped by the view) and
    HTML documents laid out at `width`, a blank line between them."""
    colours = HtmlStyles.from_theme(variables)
    quotes = list(colours.quotes)
    parts: list[Text] = []
    for piece in pieces:
        if isinstance(piece, str):
            parts.append(body_text(piece, quotes))
        else:
            lines = HtmlBody(piece, colours).lines(console, max(width, 1))
            parts.append(Text("\n").join(lines))
    for part in parts:
        part.rstrip()
    return Text("\n\n").join(parts)
