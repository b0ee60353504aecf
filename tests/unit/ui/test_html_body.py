"""The HTML body's layout (`ui.html_body`): styles, wrapping with hanging indents, quotes in
the theme's colours, tables that fit the width, and hostile documents."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text

from tuimail.mail.html_text import parse_html
from tuimail.ui.html_body import HtmlBody, HtmlStyles, pieces_text

COLOURS = HtmlStyles(link="#0000ff", border="#00ff00", quotes=("#ff0000", "#00ff00"))
TABLE = (
    "<table><tr><th>Item</th><th>Price</th><th>Note</th></tr>"
    "<tr><td>Wool coat</td><td>89 EUR</td><td>warm and long, for the winter</td></tr>"
    "<tr><td>Hat</td><td>10 EUR</td><td>red</td></tr></table>"
)


def lines(markup: str, width: int) -> list[Text]:
    console = Console(width=width, color_system="truecolor")
    return HtmlBody(parse_html(markup), COLOURS).lines(console, width)


def plain(markup: str, width: int) -> list[str]:
    return [line.plain for line in lines(markup, width)]


def style_at(line: Text, offset: int) -> Style:
    return line.get_style_at_offset(Console(), offset)


def test_headings_and_emphasis_are_styles() -> None:
    shown = lines("<h1>Winter sale</h1><p>Dear <b>Alice</b> and <i>Bob</i></p>", 40)
    assert [line.plain for line in shown] == ["Winter sale", "", "Dear Alice and Bob"]
    heading = style_at(shown[0], 0)
    assert heading.bold and heading.underline
    assert style_at(shown[2], 5).bold and style_at(shown[2], 15).italic
    assert not style_at(shown[2], 0).bold


def test_links_are_numbered_in_the_text_and_listed_after_it() -> None:
    shown = lines('<p>See <a href="https://shop.example/offer">the offer</a> now.</p>', 40)
    assert [line.plain for line in shown] == [
        "See the offer[1] now.",
        "",
        "[1] https://shop.example/offer",
    ]
    assert style_at(shown[0], 4).color.name == "#0000ff"
    assert style_at(shown[2], 6).color.name == "#0000ff"


def test_list_items_wrap_under_their_text() -> None:
    shown = plain("<ul><li>one two three four five six seven eight</li></ul>", 20)
    assert shown == ["  • one two three", "    four five six", "    seven eight"]


def test_quotes_are_marked_and_in_the_quote_colours() -> None:
    shown = lines("<blockquote>outer<blockquote>inner</blockquote></blockquote>", 40)
    assert [line.plain for line in shown] == ["> outer", "", "> > inner"]
    assert style_at(shown[0], 3).color.name == "#ff0000"
    assert style_at(shown[2], 5).color.name == "#00ff00"


@pytest.mark.parametrize("width", [30, 45, 80, 120])
def test_a_table_is_drawn_within_the_width(width: int) -> None:
    shown = plain(TABLE, width)
    assert shown[0].startswith("┌") and shown[-1].startswith("└")
    assert all(len(line) <= width for line in shown)
    text = " ".join(shown)
    for word in ("Item", "Price", "Wool", "coat", "89", "winter", "Hat", "red"):
        assert word in text


def test_a_table_too_wide_for_the_view_becomes_lines_of_cells() -> None:
    row = "<tr>" + "".join(f"<td>c{n}</td>" for n in range(30)) + "</tr>"
    shown = plain(f"<table>{row}{row}</table>", 60)
    assert not any("┌" in line for line in shown)
    assert shown[0].startswith("c0 │ c1 │ c2")
    assert all(len(line) <= 60 for line in shown)
    assert sum(line.count("c29") for line in shown) == 2


def test_plain_and_html_pieces_make_one_text() -> None:
    variables = {"quote-1": "#ff0000", "primary": "#0000ff"}
    console = Console(width=40)
    text = pieces_text(["hello\n> quoted", parse_html("<h2>Head</h2>")], variables, console, 40)
    assert text.plain == "hello\n> quoted\n\nHead"
    assert style_at(text, 6).color.name == "#ff0000"  # the quoted line, in the quote colour
    assert style_at(text, len("hello\n> quoted\n\n")).bold


def test_hostile_documents_stay_within_the_width() -> None:
    markup = (
        "<ul>" * 40
        + "<li>" + "x" * 5000 + "</li>"
        + "<blockquote>" * 40 + "quoted " * 50
        + "<table>" + ("<tr>" + "<td>" + "y" * 300 + "</td>" * 3 + "</tr>") * 3 + "</table>"
        + "<pre>" + "z" * 3000 + "\tTab</pre>"
    )  # fmt: skip
    for width in (10, 40, 100):
        assert all(line.cell_len <= width for line in lines(markup, width))
