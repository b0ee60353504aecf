"""The pager's text functions: long quotes folded, links found, the full header section."""

from __future__ import annotations

from tuimail.mail.pager import (
    MAX_LINKS,
    find_links,
    fold_quotes,
    has_long_quotes,
    header_fields,
)


def test_a_long_quote_keeps_its_first_lines_and_says_how_many_are_hidden() -> None:
    quote = [f"> line {n}" for n in range(1, 41)]
    text = "\n".join(["Hi,", "", "On Monday you wrote:", *quote, "", "Bye."])
    folded = fold_quotes(text, "T").split("\n")
    assert folded == [
        "Hi,",
        "",
        "On Monday you wrote:",
        "> line 1",
        "> line 2",
        "> line 3",
        "[... 37 quoted lines, press T to show]",
        "",
        "Bye.",
    ]
    assert has_long_quotes(text)


def test_short_quotes_and_unquoted_text_stay_as_they_are() -> None:
    text = "\n".join(["a", *[f"> {n}" for n in range(8)], "b", ">> deeper", "c"])
    assert fold_quotes(text, "T") == text
    assert not has_long_quotes(text)


def test_nested_quote_levels_are_one_run_and_the_last_run_is_folded_too() -> None:
    lines = [">> old" if n % 2 else "> newer" for n in range(12)]
    folded = fold_quotes("\n".join(["x", *lines]), "ctrl+q", longer_than=8, kept=2)
    assert folded.split("\n") == [
        "x",
        "> newer",
        ">> old",
        "[... 10 quoted lines, press ctrl+q to show]",
    ]


def test_links_in_order_each_once_without_the_punctuation_around_them() -> None:
    text = (
        "See https://example.org/a, and (https://example.org/b).\n"
        "<https://example.net/c?x=1&y=2> and http://example.com/wiki/Foo_(bar).\n"
        "Again https://example.org/a! Not ftp://example.org/d nor https:// alone.\n"
        '"https://example.org/e" [1]: https://example.org/f'
    )
    assert find_links(text) == [
        "https://example.org/a",
        "https://example.org/b",
        "https://example.net/c?x=1&y=2",
        "http://example.com/wiki/Foo_(bar)",
        "https://example.org/e",
        "https://example.org/f",
    ]


def test_links_are_bounded() -> None:
    text = " ".join(f"https://example.org/{n}" for n in range(MAX_LINKS + 50))
    assert len(find_links(text)) == MAX_LINKS
    assert find_links("https://example.org/" + "a" * 5000) == []


def test_the_full_header_section_unfolded_decoded_and_sanitized() -> None:
    raw = (
        b"Received: from a.example\r\n\tby b.example; Mon, 7 Dec 2026 10:00:00 +0000\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        b"X-Evil: \x1b[31mred\x1b[0m\r\n"
        b"From: Ann <ann@example.org>\r\n"
        b"\r\n"
        b"Body: not a header\r\n"
    )
    assert header_fields(raw) == [
        ("Received", "from a.example by b.example; Mon, 7 Dec 2026 10:00:00 +0000"),
        ("Subject", "Grüße"),
        ("X-Evil", "red"),
        ("From", "Ann <ann@example.org>"),
    ]


def test_huge_header_fields_are_cut() -> None:
    raw = b"X-Big: " + b"a" * 100_000 + b"\r\n\r\nbody"
    ((name, value),) = header_fields(raw)
    assert name == "X-Big"
    assert value.endswith(" […]") and len(value) < 5000
