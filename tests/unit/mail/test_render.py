"""render_message / render_html details not covered by the corpus."""

from __future__ import annotations

import pytest

from tuimail.core.model import AttachmentInfo, Envelope
from tuimail.mail import limits
from tuimail.mail.parse import ParsedMessage, TextPart, parse_message
from tuimail.mail.render import (
    attachment_line,
    human_size,
    preferred_parts,
    render_html,
    render_message,
)


def message(*parts: TextPart, attachments: tuple[AttachmentInfo, ...] = ()) -> ParsedMessage:
    return ParsedMessage(Envelope(message_id=None, subject=""), parts, attachments, (), False)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (120 * 1024, "120 KB"),
        (5 * 1024 * 1024 + 1, "5.0 MB"),
        (3 * 1024**4, "3.0 TB"),
        (5000 * 1024**4, "5000 TB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_attachment_line_sanitizes_the_name() -> None:
    info = AttachmentInfo(0, "evil\x1b[2J\nname\u202e.pdf", "application/pdf", 120 * 1024)
    assert attachment_line(info) == "[attachment] evil name.pdf (120 KB)"
    unnamed = AttachmentInfo(1, "", "image/png", 10)
    assert attachment_line(unnamed) == "[attachment] unnamed image/png (10 bytes)"


def test_preferred_parts_per_group() -> None:
    parts = [
        TextPart("text/plain", "plain a", 0),
        TextPart("text/html", "<p>html a</p>", 0),
        TextPart("text/plain", "  \n", 1),
        TextPart("text/html", "<p>html b</p>", 1),
        TextPart("text/html", "<p>html c</p>", 2),
    ]
    assert [p.text for p in preferred_parts(parts)] == [
        "plain a",
        "<p>html b</p>",
        "<p>html c</p>",
    ]


def test_render_joins_groups_with_a_blank_line() -> None:
    parsed = message(
        TextPart("text/plain", "first\n", 0), TextPart("text/html", "<p>second</p>", 1)
    )
    assert render_message(parsed, b"") == "first\n\nsecond"


def test_render_of_an_empty_message() -> None:
    assert render_message(message(), b"") == ""
    assert render_message(parse_message(b"Subject: x\r\n\r\n"), b"Subject: x\r\n\r\n") == ""


def test_render_html_never_shows_image_urls() -> None:
    html = (
        '<img src="https://a.example/x.png" alt="Chart">'
        '<img src="cid:part1" alt="">'
        '<img src="https://t.example/p.gif" width="1" height="1">'
        '<a href="https://b.example/"><img src="https://c.example/y.png" alt="Logo"></a>'
        "<img>"
    )
    text = render_html(html)
    assert "a.example" not in text and "c.example" not in text and "t.example" not in text
    assert "[Chart]" in text and "[Logo]" in text
    assert text.count("[image]") == 2  # the cid image without alt text and the bare <img>
    assert "https://b.example/" in text  # links are shown, as text


def test_render_html_removes_escapes_from_entities_and_attributes() -> None:
    html = '<a href="https://x.example/&#27;]52;c;AAAA&#7;">go&#x1b;[2J</a> &#155;1m'
    text = render_html(html)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert text.startswith("go[1] ›1m")  # the CSI in the link text is gone whole
    # The attribute parser drops "&#7;", so the OSC in the URL has no terminator: only its
    # introducer is removed and the rest stays visible as harmless text.
    assert text.endswith("[1] https://x.example/]52;c;AAAA")


def test_render_html_bad_markup_does_not_raise() -> None:
    for html in ["<", "<a href=", "</ul></ul></blockquote>", "<table><td><tr>", "&#99999999999;"]:
        assert isinstance(render_html(html), str)


def test_raw_only_view_is_bounded_and_sanitized() -> None:
    raw = b"Subject: " + b"\x1b[31m" + b"x" * 400_000 + b"\r\n\r\nbody"
    parsed = parse_message(raw)
    assert parsed.raw_only
    text = render_message(parsed, raw)
    assert text.startswith("[This message is shown raw: header too large")
    assert "\x1b" not in text and "[31m" not in text
    rest = human_size(len(raw) - limits.MAX_RAW_VIEW_BYTES)
    assert text.endswith(f"[raw message cut: {rest} not shown]")
    assert len(text) < limits.MAX_RAW_VIEW_BYTES + 500


def test_render_output_is_never_over_the_limits() -> None:
    parsed = message(TextPart("text/plain", ("line\n" * 300_000)))
    text = render_message(parsed, b"")
    assert len(text) < limits.MAX_RENDER_CHARS + 100
    # 1,499,999 characters once the final newline is stripped
    assert text.endswith("[message cut: 499999 more characters not shown]")
