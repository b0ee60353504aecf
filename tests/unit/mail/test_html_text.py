"""The HTML walk (`mail.html_text`): styled blocks, lists, tables, links, images, and its
bounds on hostile HTML."""

from __future__ import annotations

import re

import pytest

from tuimail.mail import limits
from tuimail.mail.html_model import Block, HtmlDocument, Table
from tuimail.mail.html_text import MAX_OPEN_ELEMENTS, parse_html

TERMINAL_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)

WINTER_SALE = """<html><head><title>Winter sale</title><style>h1 { color: red }</style></head>
<body><h1>Winter sale</h1>
<p>Dear <b>Alice</b>, see <a href="https://shop.example/offer">the offer</a>, <em>now</em>.</p>
<table><tr><th>Item</th><th>Price</th></tr><tr><td>Coat</td><td>99 EUR</td></tr>
<tr><td>Hat</td><td>10 EUR</td></tr></table>
<p>Again: <a href="https://shop.example/offer">the same offer</a>.</p>
</body></html>"""


def blocks(document: HtmlDocument) -> list[Block]:
    return [block for block in document.blocks if isinstance(block, Block)]


def texts(document: HtmlDocument) -> list[str]:
    return ["".join(span.text for span in block.spans) for block in blocks(document)]


def styles_of(document: HtmlDocument, text: str) -> frozenset[str]:
    for block in blocks(document):
        for span in block.spans:
            if span.text == text:
                return span.styles
    raise AssertionError(f"no span {text!r}")


def test_markup_becomes_styles_not_markdown() -> None:
    document = parse_html(WINTER_SALE)
    heading = blocks(document)[0]
    assert heading.kind == "heading" and heading.level == 1
    assert texts(document)[0] == "Winter sale"
    assert "bold" in styles_of(document, "Alice")
    assert "italic" in styles_of(document, "now")
    assert "link" in styles_of(document, "the offer")
    assert styles_of(document, "[1]") == {"link-number"}
    plain = document.plain_text()
    assert plain.startswith("Winter sale\n\nDear Alice, see the offer[1], now.")
    for markdown in ("#", "**", "_now_", "[the offer]", "---", "|"):
        assert markdown not in plain
    # The same URL keeps its number; the list comes after the text.
    assert "the same offer[1]." in plain
    assert plain.endswith("\n\n[1] https://shop.example/offer")
    assert document.links == ["https://shop.example/offer"]


def test_a_data_table_keeps_its_rows_and_header() -> None:
    document = parse_html(WINTER_SALE)
    (table,) = [block for block in document.blocks if isinstance(block, Table)]
    assert table.header_rows == 1
    cells = [["".join(s.text for s in cell) for cell in row] for row in table.rows]
    assert cells == [["Item", "Price"], ["Coat", "99 EUR"], ["Hat", "10 EUR"]]
    assert "Item  Price\nCoat  99 EUR\nHat   10 EUR" in document.plain_text()


@pytest.mark.parametrize(
    "markup",
    [
        # The layout tables of newsletters: one column, one row, nested, or said so.
        "<table><tr><td>First part</td></tr><tr><td>Second part</td></tr></table>",
        "<table><tr><td>First part</td><td>Second part</td></tr></table>",
        "<table><tr><td><table><tr><td>First part</td></tr></table></td><td>x</td></tr>"
        "<tr><td>Second part</td><td>y</td></tr></table>",
        '<table role="presentation"><tr><td>First part</td><td>a</td></tr>'
        "<tr><td>Second part</td><td>b</td></tr></table>",
    ],
)
def test_layout_tables_are_flattened_into_text(markup: str) -> None:
    document = parse_html(markup)
    assert not any(isinstance(block, Table) for block in document.blocks)
    shown = texts(document)
    assert shown.index("First part") < shown.index("Second part")


def test_lists_have_markers_and_indentation() -> None:
    document = parse_html(
        "<ul><li>one<li>two<ul><li>inner</li></ul></li></ul>"
        '<ol start="7"><li>seventh</li><li>eighth</li></ol>'
    )
    items = [
        (block.indent, block.marker, text)
        for block, text in zip(blocks(document), texts(document), strict=True)
    ]
    assert items == [
        (2, "• ", "one"),
        (2, "• ", "two"),
        (4, "◦ ", "inner"),
        (2, "7. ", "seventh"),
        (2, "8. ", "eighth"),
    ]
    assert document.plain_text() == "  • one\n  • two\n    ◦ inner\n\n  7. seventh\n  8. eighth"


def test_quotes_pre_and_breaks() -> None:
    document = parse_html(
        "<p>line one<br>line two</p><blockquote>said <blockquote>before</blockquote></blockquote>"
        "<pre>  a  b\n    c</pre>"
    )
    quoted = {
        text: block.quote for block, text in zip(blocks(document), texts(document), strict=True)
    }
    assert quoted["said"] == 1 and quoted["before"] == 2
    plain = document.plain_text()
    assert "line one\nline two" in plain
    assert "> said" in plain and "> > before" in plain
    assert "  a  b\n    c" in plain  # preformatted: spaces and lines kept


def test_links_that_need_no_number() -> None:
    document = parse_html(
        '<a href="https://a.example/">https://a.example/</a> '
        '<a href="mailto:bob@example.org">bob@example.org</a> '
        '<a href="#top">top</a> <a href="javascript:alert(1)">js</a> '
        '<a href="https://b.example/"></a>'
    )
    assert document.links == []
    assert "[1]" not in document.plain_text()


def test_images_are_their_alt_text_and_never_their_address() -> None:
    document = parse_html(
        '<img src="https://cdn.example/a.png" alt="Logo">'
        '<img src="https://t.example/p.gif" width="1" height="1">'
        '<img src="cid:x"><a href="https://shop.example/"><img src="https://c.example/b.png"></a>'
    )
    plain = document.plain_text()
    assert "[Logo]" in plain and plain.count("[image]") == 2
    assert "cdn.example" not in plain and "t.example" not in plain and "c.example" not in plain
    assert "[image][1]" in plain and document.links == ["https://shop.example/"]


def test_what_is_not_shown() -> None:
    document = parse_html(
        "<head><title>Title text</title><style>p { color: red }</style>"
        "<script>var secret = 1;</script></head><body>"
        '<div style="display:none">preheader text</div><span hidden>hidden text</span>'
        "<template>template text</template><p>shown</p><noscript>no script</noscript>"
    )
    assert document.plain_text() == "shown"


def test_a_head_without_its_end_tag_does_not_hide_the_body() -> None:
    document = parse_html("<html><head><title>t</title><p>the body</p>")
    assert document.plain_text() == "the body"


def test_unclosed_elements_do_not_leak_out_of_a_table_cell() -> None:
    document = parse_html(
        "<table><tr><td><b>bold in a cell<td>x<tr><td>a<td>b</table><p>after the table</p>"
    )
    assert "bold" not in styles_of(document, "after the table")
    (table,) = [block for block in document.blocks if isinstance(block, Table)]
    assert len(table.rows) == 2


def test_hostile_text_is_sanitized_everywhere() -> None:
    document = parse_html(
        "<p>esc &#27;[31mred&#27;[0m and raw \x1b]0;title\x07 and \u202eevil\u202c "
        "and c1 &#155;1m</p>"
        '<img alt="alt\x1b[2J\u202ename">'
        '<a href="https://x.example/\x1b]52;c;AAAA\x07">link\u2066text</a>'
    )
    plain = document.plain_text()
    assert not TERMINAL_CONTROL.search(plain)
    assert "[31m" not in plain and "]0;" not in plain  # sequences removed whole
    assert "esc red and raw and evil and c1 ›1m" in plain
    assert "[altname]" in plain and "linktext[1]" in plain
    assert document.links == ["https://x.example/"]


@pytest.mark.parametrize(
    "markup",
    [
        "<div>" * 40_000 + "deep" + "</div>" * 40_000,
        "<b><i>" * 50_000 + "deep",
        "<ul><li>" * 30_000 + "deep",
        "<blockquote>" * 30_000 + "deep",
        "<table><tr><td>" * 20_000 + "deep",
        "<i>" * (MAX_OPEN_ELEMENTS - 1) + "</b>" * 100_000 + "deep",
        "<span style='display:none'>" * 10_000 + "</span>" * 10_000 + "deep",
    ],
    ids=["divs", "inline", "lists", "quotes", "tables", "wrong-ends", "hidden"],
)
def test_deep_nesting_is_bounded(markup: str) -> None:
    document = parse_html(markup)
    plain = document.plain_text()
    assert plain.rstrip().endswith("deep")
    indent = max(len(line) - len(line.lstrip(" >•◦▪")) for line in plain.split("\n"))
    assert indent <= 6 * limits.MAX_HTML_NESTING
    assert all(block.quote <= limits.MAX_HTML_NESTING for block in document.blocks)


def test_a_huge_table_and_many_lines_are_cut_with_a_note() -> None:
    row = "<tr>" + "<td>cell</td>" * 10 + "</tr>"
    document = parse_html("<table>" + row * 40_000 + "</table>")
    assert document.note  # over MAX_HTML_CHARS
    (table,) = document.blocks
    assert isinstance(table, Table) and 1000 < len(table.rows) <= limits.MAX_HTML_LINES
    lines = parse_html("x<br>" * 100_000)
    assert lines.note and lines.plain_text().count("\n") <= limits.MAX_HTML_LINES + 5


def test_output_is_bounded_whatever_the_input() -> None:
    for markup in ("<p>" + "word " * 200_000, "<a href='https://e.example/{}'>l</a>" * 20_000):
        plain = parse_html(markup).plain_text()
        assert len(plain) <= limits.MAX_RENDER_CHARS + 200


def test_style_changes_are_bounded_and_the_text_kept() -> None:
    document = parse_html("<p>" + "<b>a</b><i>b</i>" * 20_000 + "</p>")
    (block,) = blocks(document)
    assert len(block.spans) <= limits.MAX_HTML_STYLE_RUNS + 1
    assert "".join(span.text for span in block.spans) == "ab" * 20_000


def test_spacer_paragraphs_make_no_blank_lines_of_their_own() -> None:
    document = parse_html(
        '<p class="MsoNormal">one<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
        '<p class="MsoNormal">two</p>'
    )
    assert document.plain_text() == "one\n\ntwo"


@pytest.mark.parametrize(
    "markup",
    [
        '<table><tr><td style="display:none">hidden<td>a<td>b<tr><td>c<td>d</table>',
        "<table><tr><td>a<td>b<tr><td>c<td hidden>hidden</table><p>after</p>",
        '<ul><li style="display:none">hidden<li>a<li>b</ul>',
        '<p style="display:none">hidden<div>a b</div>',
    ],
)
def test_a_hidden_element_without_its_end_tag_hides_only_itself(markup: str) -> None:
    plain = parse_html(markup).plain_text()
    assert "hidden" not in plain
    assert "a" in plain and "b" in plain
    if "after" in markup:
        assert plain.endswith("after")
