"""sanitize / sanitize_line: the gate between untrusted text and the terminal."""

from __future__ import annotations

import pytest

from tuimail.mail.sanitize import sanitize, sanitize_line

ESC = "\x1b"


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        (f"a{ESC}[31mred{ESC}[0m b", "ared b"),  # CSI colour, whole sequence
        (f"a{ESC}[?1049h{ESC}[2J{ESC}[Hb", "ab"),  # private mode, clear screen, cursor home
        (f"a{ESC}[1;31;4mb", "ab"),
        (f"x{ESC}]0;pwned\x07y", "xy"),  # OSC 0 title, BEL-terminated
        (f"x{ESC}]0;pwned{ESC}\\y", "xy"),  # ST-terminated
        (f"{ESC}]8;;https://evil.example/{ESC}\\click{ESC}]8;;{ESC}\\", "click"),  # OSC 8
        (f"a{ESC}]52;c;cm0gLXJmIH4K\x07b", "ab"),  # OSC 52 clipboard write
        (f"a{ESC}P1$qm{ESC}\\b", "ab"),  # DCS
        (f"a{ESC}_apc payload{ESC}\\b", "ab"),  # APC
        (f"a{ESC}^pm{ESC}\\b", "ab"),  # PM
        (f"a{ESC}Xsos{ESC}\\b", "ab"),  # SOS
        (f"a{ESC}cb", "ab"),  # RIS (full reset), a two-character sequence
        (f"a{ESC}(0b", "ab"),  # charset designation (line drawing)
        (f"a{ESC}7{ESC}8b", "ab"),  # save/restore cursor
        ("a\x9b31mb", "ab"),  # C1 CSI
        ("a\x9d0;title\x9cb", "ab"),  # C1 OSC with C1 ST
        ("a\x90dcs\x9cb", "ab"),  # C1 DCS
        ("a\x85b\x9fc", "abc"),  # other C1 controls
        ("bell\x07 bs\x08 nul\x00 del\x7f vt\x0b ff\x0c so\x0e", "bell bs nul del vt ff so"),
        (f"{ESC}", ""),  # a lone ESC at the end
        (f"a{ESC}\nb", "a\nb"),  # ESC before a newline: only ESC goes
    ],
)
def test_escape_sequences_are_removed_whole(hostile: str, expected: str) -> None:
    assert sanitize(hostile) == expected


def test_unterminated_string_sequence_keeps_the_rest_visible() -> None:
    # Without a terminator only the introducer goes; the text stays (nothing is hidden).
    assert sanitize(f"a{ESC}]0;title never ends") == "a0;title never ends"
    assert sanitize("a\x9d0;title never ends") == "a0;title never ends"


@pytest.mark.parametrize(
    "bidi", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068"]
)
def test_bidi_controls_are_removed(bidi: str) -> None:
    assert sanitize(f"invoice{bidi}fdp.exe") == "invoicefdp.exe"


def test_all_listed_bidi_controls() -> None:
    text = "a\u2069b\u200ec\u200fd\u061ce"
    assert sanitize(text) == "abcde"


def test_line_ends() -> None:
    assert sanitize("one\r\ntwo\rthree\nfour") == "one\ntwo\nthree\nfour"
    assert sanitize("para\u2028line\u2029end") == "para\nline\nend"


def test_tabs_and_newlines_kept_in_multi_line_text() -> None:
    assert sanitize("a\tb\nc") == "a\tb\nc"


def test_sanitize_line_flattens_to_one_line() -> None:
    assert sanitize_line("Re:\tthe\r\nsubject\nline\rend") == "Re: the subject line end"
    assert sanitize_line(f"{ESC}[31mred{ESC}[0m\u202etitle") == "redtitle"


def test_lone_surrogates_are_replaced() -> None:
    text = "bad \udce9 and \ud800 end"
    assert sanitize(text) == "bad \ufffd and \ufffd end"
    sanitize(text).encode("utf-8")  # can be written out


def test_plain_unicode_is_untouched() -> None:
    text = "Grüße 会议纪要 Отчёт ☕ 👩‍💻 e\u0301 zero\u200bwidth"
    assert sanitize(text) == text
    assert sanitize_line(text) == text


def test_markup_is_not_escaped() -> None:
    # The UI renders this text with markup disabled; sanitize must not alter it.
    text = "[@click=app.quit]Quit[/] [bold red]x[/bold red] \\[escaped]"
    assert sanitize(text) == text
    assert sanitize_line(text) == text


def test_big_input_with_many_sequences() -> None:
    text = (f"word {ESC}[31mred{ESC}[0m\n" * 100_000) + ("\x9d" + "x" * 1000) * 100
    result = sanitize(text)
    assert result.startswith("word red\nword red\n")
    assert ESC not in result and "\x9d" not in result
    assert len(result) == len("word red\n") * 100_000 + 1000 * 100
