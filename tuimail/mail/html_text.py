"""HTML -> a small styled document for the message view (and plain text for the rest).

The HTML is walked once with the standard library's `html.parser` into an `HtmlDocument`
(`html_model`): a list of blocks (paragraphs, headings, list items, preformatted text, rules,
quoted parts) made of `Span`s that carry their text and named styles ("bold", "italic",
"link", ...), and data tables. Links are numbered in the text (``the offer[1]``) and their URLs
kept in `HtmlDocument.links`; images become their alt text; nothing is ever fetched. No toolkit
here: the UI turns the spans into styled text with the theme's colours and lays the blocks out
at the width of the screen; `HtmlDocument.plain_text` gives the same content as plain text (the
search index, `tuimail show`, a reply's quote).

Every piece of text (data, alt text, URLs) has been through `sanitize` when it gets here. The
walk is linear in the input: the open-element stack is bounded, an end tag is matched only
against the top of it, nesting deeper than `limits.MAX_HTML_NESTING` is flattened, the input is
cut at `limits.MAX_HTML_CHARS`, and the text taken at `limits.MAX_RENDER_CHARS` characters or
`limits.MAX_HTML_LINES` lines.
"""

from __future__ import annotations

import html
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

from tuimail.mail import limits
from tuimail.mail.html_model import Block, HtmlDocument, Span, Table
from tuimail.mail.sanitize import sanitize, sanitize_line

# --- the walk ------------------------------------------------------------------------------

_INLINE_STYLES: dict[str, tuple[str, ...]] = {
    "b": ("bold",),
    "strong": ("bold",),
    "i": ("italic",),
    "em": ("italic",),
    "cite": ("italic",),
    "dfn": ("italic",),
    "var": ("italic",),
    "u": ("underline",),
    "ins": ("underline",),
    "s": ("strike",),
    "strike": ("strike",),
    "del": ("strike",),
    "code": ("code",),
    "tt": ("code",),
    "kbd": ("code",),
    "samp": ("code",),
}
# Elements whose text is never shown (script and style content is raw text to html.parser).
_SKIPPED = frozenset({"script", "style", "head", "title", "template", "svg", "math", "noscript"})
_HEAD_CHILDREN = frozenset({"title", "meta", "link", "style", "script", "base", "noscript"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source"}
    | {"track", "wbr", "keygen", "frame", "basefont", "isindex"}
)
# Block boundaries: the text before and after them are separate blocks; "spaced" ones also
# leave a blank line.
_SPACED = frozenset(
    {"p", "blockquote", "pre", "hr", "dl", "figure", "address", "fieldset", "form"}
    | {"h1", "h2", "h3", "h4", "h5", "h6"}
)
_BLOCKS = _SPACED | frozenset(
    {"div", "section", "article", "header", "footer", "nav", "aside", "main", "center"}
    | {"dt", "dd", "li", "ul", "ol", "tr", "td", "th", "table", "caption", "body", "html"}
    | {"tbody", "thead", "tfoot", "details", "summary", "figcaption", "option", "legend"}
)
# Elements closed without their end tag: by the start of these (as browsers do) ...
_CELLS = frozenset({"td", "th", "tr"})
_CLOSED_BY_START: dict[str, frozenset[str]] = {
    "td": _CELLS, "th": _CELLS, "tr": frozenset({"tr"}), "li": frozenset({"li"}),
    "dt": frozenset({"dt", "dd"}), "dd": frozenset({"dt", "dd"}), "p": _BLOCKS,
    "option": frozenset({"option"}),
}  # fmt: skip
# ... and by the end of these.
_TABLE_ENDS = frozenset({"tr", "table", "tbody", "thead", "tfoot"})
_CLOSED_BY_END: dict[str, frozenset[str]] = {
    "td": _TABLE_ENDS, "th": _TABLE_ENDS, "tr": _TABLE_ENDS - {"tr"},
    "li": frozenset({"ul", "ol"}), "dt": frozenset({"dl"}), "dd": frozenset({"dl"}),
    "p": _BLOCKS - {"p"},
}  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BULLETS = ("• ", "◦ ", "▪ ")
_TRACKING_PIXEL_SIZES = frozenset({"0", "1", "0px", "1px"})
_HIDDEN_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_BOLD_RE = re.compile(r"font-weight\s*:\s*(?:bold|[6-9]00)", re.IGNORECASE)
_ITALIC_RE = re.compile(r"font-style\s*:\s*italic", re.IGNORECASE)
_UNDERLINE_RE = re.compile(r"text-decoration[a-z-]*\s*:[^;]*underline", re.IGNORECASE)
_SPACE_RE = re.compile(r"[ \t\n\f\r]+")  # HTML's white space (not U+00A0: it stays)

MAX_OPEN_ELEMENTS = 512  # deeper elements are not tracked (their styles are dropped)
MAX_END_TAG_SEARCH = 64  # how far down the open elements an end tag looks for its start
MAX_TABLE_NESTING = 16  # tables inside tables; deeper ones add no structure
MAX_URL_CHARS = 2048
MAX_ALT_CHARS = 200
MAX_DATA_CELL_CHARS = 300  # a cell with more text than this makes its table a layout table


@dataclass(slots=True)
class _Open:
    """An element on the open-element stack and what it changed (undone when it closes)."""

    tag: str
    styles: tuple[str, ...] = ()
    role: str = ""  # "skip", "inert", "list", "li", "quote", "pre", "heading", "link", "indent", ""
    href: str = ""
    link_text: str = ""
    indent: int = 0  # the columns of indentation it added


@dataclass(slots=True)
class _List:
    ordered: bool
    number: int


@dataclass(slots=True)
class _TableBuild:
    depth: int  # the open-element stack's length when the table started
    layout: bool
    quote: int
    indent: int
    rows: list[list[tuple[list[Block | Table], bool]]] = field(default_factory=list)
    cell: list[Block | Table] | None = None
    cell_header: bool = False
    cell_depth: int = 0


class _Walker(HTMLParser):
    """The one pass over the HTML; `document` holds the result after `close()`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self._text: list[str] = []
        self._budget = limits.MAX_RENDER_CHARS  # characters of text still taken
        self._lines = limits.MAX_HTML_LINES  # lines still taken
        self._runs = limits.MAX_HTML_STYLE_RUNS  # changes of style still kept
        self._last_styles: frozenset[str] = frozenset()
        self._full = False  # the budget is spent: the rest is left out
        self.document = HtmlDocument()
        self._sinks: list[list[Block | Table]] = [self.document.blocks]
        self._spans: list[Span] = []
        self._space = True  # the text so far ends in a space (or nothing): drop leading ones
        self._gap = False
        self._open: list[_Open] = []
        self._open_names: Counter[str] = Counter()
        self._untracked: Counter[str] = Counter()  # starts past MAX_OPEN_ELEMENTS, by name
        self._styles: Counter[str] = Counter()
        self._current: frozenset[str] = frozenset()
        self._skip = 0
        self._pre = 0
        self._quote = 0
        self._indent = 0
        self._lists: list[_List] = []
        self._markers: list[str] = []  # per open <li>: its marker until its first block
        self._heading = 0
        self._links: dict[str, int] = {}
        self._tables: list[_TableBuild] = []
        self._link_entries: list[_Open] = []  # the open links, innermost last
        self._hidden: int | None = None  # where the outermost hidden element is on the stack

    # --- text

    # Text, character references and entities are gathered up to the next tag and sanitized
    # together: an escape sequence written as "&#27;[31m" is then removed whole.

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_charref(self, name: str) -> None:
        self._text.append(_charref(name))

    def handle_entityref(self, name: str) -> None:
        self._text.append(html.unescape(f"&{name};"))

    def _take_text(self) -> None:
        if not self._text:
            return
        data = "".join(self._text)
        self._text.clear()
        if self._skip or self._full:
            return
        text = sanitize(data)
        if self._pre:
            text = text.expandtabs(8)
            self._add(text)
            self._space = text.endswith(("\n", " "))
            return
        text = _SPACE_RE.sub(" ", text)
        if self._space:
            text = text.lstrip(" ")
        if text:
            self._add(text)
            self._space = text.endswith(" ")

    def _add(self, text: str, styles: frozenset[str] | None = None) -> None:
        if self._full:
            return
        self._spend(len(text), text.count("\n"))
        styles = self._current if styles is None else styles
        if styles != self._last_styles:
            self._runs -= 1
            if self._runs < 0:
                styles = frozenset()  # past the bound: plain text (runs of it merge)
            self._last_styles = styles
        # Appended as they come (joining here would copy the paragraph again and again).
        self._spans.append(Span(text, styles))
        if self._link_entries and len(self._link_entries[-1].link_text) < MAX_URL_CHARS:
            self._link_entries[-1].link_text += text

    def _spend(self, chars: int, lines: int) -> None:
        """Count text against the bounds; once one is spent, the rest of the HTML is left out
        (what was collected so far is kept)."""
        self._budget -= chars
        self._lines -= lines
        if self._budget < 0 or self._lines < 0:
            self._full = True

    def _line_break(self) -> None:
        self._add("\n")
        self._space = True

    # --- blocks

    def _flush(self, kind: str = "text") -> None:
        """End the paragraph being collected: it becomes a block (when it has text)."""
        chunks, self._spans = self._spans, []
        self._space = True
        if not chunks:
            return
        spans = [
            Span("".join(chunk.text for chunk in group), styles)
            for styles, group in itertools.groupby(chunks, key=lambda chunk: chunk.styles)
        ]
        # Trim the spaces and line breaks around the paragraph (inside pre: only the breaks).
        strip = "\n" if kind == "pre" else " \n"
        while spans and not spans[0].text.lstrip(strip):
            spans.pop(0)
        while spans and not spans[-1].text.rstrip(strip):
            spans.pop()
        if not any(span.text.strip() for span in spans):
            return  # only spaces (Outlook's "<p>&nbsp;</p>" spacers): the gap is enough
        spans[0] = Span(spans[0].text.lstrip(strip), spans[0].styles)
        spans[-1] = Span(spans[-1].text.rstrip(strip), spans[-1].styles)
        if kind != "pre":  # the spaces left before and after a <br>
            spans = [Span(_tidy_breaks(span.text), span.styles) for span in spans]
        marker = ""
        indent = self._indent
        if self._markers:
            marker = self._markers[-1]
            if marker.strip():
                self._markers[-1] = " " * len(marker)  # the next block of the item: no bullet
            indent -= len(marker)
        # The text itself was counted by _add; a blank line before the block counts too.
        self._spend(indent + len(marker) + 2, 2 if self._gap else 1)
        block = Block(
            spans,
            kind=kind,
            level=self._heading,
            quote=self._quote,
            indent=max(indent, 0),
            marker=marker,
            gap=self._gap,
        )
        if kind == "pre" or kind == "heading":
            block.gap = True
        self._gap = False
        self._sinks[-1].append(block)

    def _boundary(self, tag: str) -> None:
        kind = "pre" if self._pre else ("heading" if self._heading else "text")
        self._flush(kind)
        if tag in _SPACED or (tag in ("ul", "ol") and not self._lists):
            self._gap = True

    # --- tags

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._take_text()
        if self._full:
            return
        values = {name: value or "" for name, value in attrs}
        if self._skip:
            root = self._open[self._hidden].tag if self._hidden is not None else ""
            if root == "head":
                ends = tag == "body" or tag not in _HEAD_CHILDREN  # a body without </head>
            else:  # a hidden <td> or <li> ends at the next one, as it would when shown
                ends = tag in _CLOSED_BY_START.get(root, ())
            if ends:
                assert self._hidden is not None
                self._pop_to(self._hidden)
            else:
                if tag not in _VOID:  # tracked only to find where the skipped part ends
                    self._push(_Open(tag, role="inert"))
                return
        if tag in _SKIPPED or "hidden" in values or _HIDDEN_RE.search(values.get("style", "")):
            if tag not in _VOID:
                if len(self._open) < MAX_OPEN_ELEMENTS:
                    self._hidden = len(self._open)
                self._push(_Open(tag, role="skip"))
                self._skip += 1
            return
        if tag == "br":
            self._line_break()
            return
        if tag == "img":
            self._image(values)
            return
        if tag == "hr":
            self._boundary(tag)
            self._sinks[-1].append(Block([], kind="rule", quote=self._quote, gap=True))
            return
        if tag in ("table", "tr", "td", "th"):
            self._table_tag(tag, values, start=True)
            return
        if tag in _VOID:
            return
        if tag in _BLOCKS:
            self._boundary(tag)
        if tag == "li":
            self._close_open("li", stop=("ul", "ol"))
        elif tag in ("dt", "dd"):
            self._close_open("dd", stop=("dl",))
        styles = _INLINE_STYLES.get(tag, ())
        style = values.get("style", "")
        if style:
            styles += tuple(
                name
                for name, pattern in (
                    ("bold", _BOLD_RE),
                    ("italic", _ITALIC_RE),
                    ("underline", _UNDERLINE_RE),
                )
                if pattern.search(style)
            )
        entry = _Open(tag, styles)
        if tag in _HEADINGS:
            entry.role = "heading"
            self._heading = _HEADINGS[tag]
            entry.styles += ("bold",) if _HEADINGS[tag] > 2 else ("bold", "underline")
        elif tag in ("ul", "ol", "menu", "dir"):
            entry.role = "list"
            start = values.get("start", "1").strip()
            number = int(start) if start.isdigit() and len(start) < 7 else 1
            self._lists.append(_List(tag == "ol", number))
        elif tag == "li":
            entry.role = "li"
            marker = self._marker()
            self._markers.append(marker)
            # Past the nesting limit an item adds no indent: deeper levels are flattened.
            # A nested list starts where its item's text does; the outermost is indented by 2.
            added = len(marker) + (2 if len(self._markers) == 1 else 0)
            if len(self._markers) > limits.MAX_HTML_NESTING:
                added = 0
            self._indent += added
            entry.indent = added
        elif tag == "dd" and self._indent < 4 * limits.MAX_HTML_NESTING:
            entry.role = "indent"
            self._indent += 4
        elif tag == "blockquote" and self._quote < limits.MAX_HTML_NESTING:
            entry.role = "quote"
            self._quote += 1
        elif tag in ("pre", "xmp", "listing", "plaintext"):
            entry.role = "pre"
            self._pre += 1
        elif tag == "a":
            href = sanitize_line(values.get("href", "")).strip()[:MAX_URL_CHARS]
            if href and not href.startswith("#") and not href.lower().startswith("javascript:"):
                entry.role = "link"
                entry.href = href
                entry.styles += ("link",)
        if entry.role or entry.styles:  # an element that changes nothing needs no undoing
            self._push(entry)
        if entry.role == "link":
            self._link_entries.append(entry)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <img/>, and (wrongly, but it happens) <div/>: a start without an end.
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._open and self._open[-1].tag == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        self._take_text()
        if self._full:
            return
        if self._hidden is not None and tag in _CLOSED_BY_END.get(self._open[self._hidden].tag, ()):
            self._pop_to(self._hidden)  # "<td hidden>x</tr>": the row ends the hidden cell
        if tag in ("table", "tr", "td", "th") and not self._skip:
            self._table_tag(tag, {}, start=False)
            return
        if tag == "br" and not self._skip:  # </br> is read as <br> by browsers too
            self._line_break()
            return
        if self._untracked[tag]:
            self._untracked[tag] -= 1
            return
        if not self._skip and tag in _BLOCKS:
            self._boundary(tag)
        if self._open_names[tag]:
            floor = max(self._floor(), len(self._open) - MAX_END_TAG_SEARCH)
            for index in range(len(self._open) - 1, floor - 1, -1):
                if self._open[index].tag == tag:
                    self._pop_to(index)
                    break
        if not self._skip and tag in _BLOCKS:
            self._boundary(tag)

    # --- the open-element stack

    def _push(self, entry: _Open) -> None:
        if len(self._open) >= MAX_OPEN_ELEMENTS:
            self._untracked[entry.tag] += 1
            if entry.role == "skip" and not self._skip:
                self._skip += 1  # keep it hidden; it is never shown again (a hostile case)
            return
        self._open.append(entry)
        self._open_names[entry.tag] += 1
        if entry.styles:
            self._styles.update(entry.styles)
            self._current = frozenset(k for k, v in self._styles.items() if v > 0)

    def _pop_to(self, index: int) -> None:
        """Close the open elements from the top down to `index` (included)."""
        while len(self._open) > index:
            entry = self._open.pop()
            self._open_names[entry.tag] -= 1
            self._undo(entry)

    def _undo(self, entry: _Open) -> None:
        if entry.role == "inert":
            return
        if entry.role == "skip":
            self._skip -= 1
            if len(self._open) == self._hidden:
                self._hidden = None
            return
        if entry.role == "link":
            if self._link_entries and self._link_entries[-1] is entry:
                self._link_entries.pop()
            self._end_link(entry)
        elif entry.role == "heading":
            self._flush("heading")
            self._heading = 0
            self._gap = True
        elif entry.role == "list":
            self._flush()
            self._lists.pop()
            if not self._lists:
                self._gap = True
        elif entry.role == "li":
            self._flush()
            self._markers.pop()
            self._indent -= entry.indent
        elif entry.role == "indent":
            self._flush()
            self._indent -= 4
        elif entry.role == "quote":
            self._flush()
            self._quote -= 1
            self._gap = True
        elif entry.role == "pre":
            self._flush("pre")
            self._pre -= 1
            self._gap = True
        if entry.styles:
            self._styles.subtract(entry.styles)
            self._current = frozenset(k for k, v in self._styles.items() if v > 0)

    def _floor(self) -> int:
        """Elements below this index belong outside the innermost open table cell or table."""
        if not self._tables:
            return 0
        table = self._tables[-1]
        return table.cell_depth if table.cell is not None else table.depth

    def _close_open(self, tag: str, stop: tuple[str, ...]) -> None:
        """Close an open `tag` (an <li> without </li>) unless an element of `stop` is nearer."""
        floor = max(self._floor(), len(self._open) - MAX_END_TAG_SEARCH)
        for index in range(len(self._open) - 1, floor - 1, -1):
            name = self._open[index].tag
            if name == tag:
                self._pop_to(index)
                return
            if name in stop:
                return

    def _marker(self) -> str:
        if not self._lists:
            return _BULLETS[0]
        current = self._lists[-1]
        if current.ordered:
            marker = f"{current.number}. "
            current.number += 1
            return marker
        return _BULLETS[(len(self._lists) - 1) % len(_BULLETS)]

    # --- links and images

    def _end_link(self, entry: _Open) -> None:
        shown = " ".join(entry.link_text.split())
        url = entry.href
        if not shown:
            return  # nothing to click on was shown: no number for nothing
        bare = url.removeprefix("mailto:") if url.lower().startswith("mailto:") else url
        if shown in (url, bare) or shown.rstrip("/") == url.rstrip("/"):
            return  # the URL is the text already
        number = self._links.get(url)
        if number is None:
            if self._full:
                return
            self._spend(len(url) + 8, 1)
            self.document.links.append(url)
            number = self._links[url] = len(self.document.links)
        self._add(f"[{number}]", frozenset({"link-number"}))
        self._space = False

    def _image(self, values: dict[str, str]) -> None:
        alt = " ".join(sanitize_line(values.get("alt", "")).split())[:MAX_ALT_CHARS]
        width, height = values.get("width", "").strip(), values.get("height", "").strip()
        if not alt and (width in _TRACKING_PIXEL_SIZES or height in _TRACKING_PIXEL_SIZES):
            return  # a tracking pixel or a spacer
        if self._spans and not self._space:
            self._add(" ")
        self._add(f"[{alt or 'image'}]", self._current | {"image"})
        self._space = False

    # --- tables

    def _table_tag(self, tag: str, values: dict[str, str], *, start: bool) -> None:
        tables = self._tables
        if tag == "table":
            self._boundary(tag)
            if start:
                if len(tables) >= MAX_TABLE_NESTING:
                    return
                layout = values.get("role", "").lower() in ("presentation", "none")
                tables.append(
                    _TableBuild(len(self._open), layout, quote=self._quote, indent=self._indent)
                )
            elif tables:
                self._end_table()
            return
        if not tables:  # a row or cell outside any table: a plain block boundary
            self._boundary(tag)
            return
        table = tables[-1]
        self._end_cell(table)
        if tag == "tr":
            if start or table.rows:
                table.rows.append([])
            return
        if start:
            if not table.rows:
                table.rows.append([])
            self._flush()
            table.cell = []
            table.cell_header = tag == "th"
            table.cell_depth = len(self._open)
            self._sinks.append(table.cell)

    def _end_cell(self, table: _TableBuild) -> None:
        if table.cell is None:
            return
        self._pop_to(table.cell_depth)
        self._flush("pre" if self._pre else "text")
        self._sinks.pop()
        if not table.rows:
            table.rows.append([])
        table.rows[-1].append((table.cell, table.cell_header))
        table.cell = None
        self._gap = False

    def _end_table(self) -> None:
        table = self._tables[-1]
        self._end_cell(table)
        self._pop_to(table.depth)
        self._flush()
        self._tables.pop()
        if self._tables:  # a table inside a table: the outer one is for layout
            self._tables[-1].layout = True
        rows = [row for row in table.rows if row]
        columns = max((len(row) for row in rows), default=0)
        cells = [blocks for row in rows for blocks, _ in row]
        layout = (
            table.layout
            or len(rows) < 2
            or columns < 2
            or any(
                isinstance(block, Table) or block.kind in ("heading", "rule") or block.marker
                for blocks in cells
                for block in blocks
            )
            or any(
                sum(len(s.text) for b in blocks if isinstance(b, Block) for s in b.spans)
                > MAX_DATA_CELL_CHARS
                for blocks in cells
            )
        )
        sink = self._sinks[-1]
        if layout:  # its cells' blocks, in reading order
            first = True
            for blocks in cells:
                for block in blocks:
                    if first:
                        block.gap = True
                        first = False
                    sink.append(block)
        else:
            header_rows = 0
            for row in rows:
                if not all(header for _, header in row):
                    break
                header_rows += 1
            data = [[_cell_spans(blocks) for blocks, _ in row] for row in rows]
            sink.append(Table(data, header_rows, table.quote, table.indent))
        self._gap = True

    def close(self) -> None:
        """End the walk: close what is still open (tables, then elements)."""
        super().close()
        self._take_text()
        while self._tables:
            self._end_table()
        self._pop_to(0)
        self._flush("pre" if self._pre else "text")


def block_chars(spans: list[Span]) -> int:
    """Characters of text in `spans`."""
    return sum(len(span.text) for span in spans)


def _charref(name: str) -> str:
    """The character of a numeric reference; any code point (controls too: `sanitize` removes
    them, and whole escape sequences with them), U+FFFD for one that cannot be."""
    try:
        code = int(name[1:], 16) if name[:1] in "xX" else int(name)
    except ValueError:  # not a number (or thousands of digits)
        return f"&#{name};"
    if 0x80 <= code <= 0x9F:  # what browsers make of them: the Windows-1252 characters
        return html.unescape(f"&#{code};")
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


def _tidy_breaks(text: str) -> str:
    return text.replace(" \n", "\n").replace("\n ", "\n") if "\n" in text else text


def _cell_spans(blocks: list[Block | Table]) -> list[Span]:
    spans: list[Span] = []
    for block in blocks:
        if isinstance(block, Block):
            if spans:
                spans.append(Span("\n"))
            spans.extend(block.spans)
    return spans


def parse_html(markup: str) -> HtmlDocument:
    """Walk `markup` into an `HtmlDocument` (sanitized, bounded; never raises)."""
    note = ""
    if len(markup) > limits.MAX_HTML_CHARS:
        cut = len(markup) - limits.MAX_HTML_CHARS
        note = f"[HTML cut: {cut} characters not shown]"
        markup = markup[: limits.MAX_HTML_CHARS]
        if markup.rfind("<") > markup.rfind(">"):  # not half a tag at the end, shown as text
            markup = markup[: markup.rfind("<")]
    walker = _Walker()
    try:
        walker.feed(markup)
        walker.close()
        document = walker.document
    except Exception:  # html.parser is lenient; keep the words should it ever give up
        words = sanitize(re.sub(r"<[^>]*>", " ", markup))
        document = HtmlDocument([Block([Span(" ".join(words.split()))])])
    if walker._full:
        note = note or "[HTML cut: the rest is not shown]"
    document.note = note
    return document
