"""The server search's query translation: user text -> IMAP SEARCH arguments, never syntax."""

from __future__ import annotations

import pytest

from tuimail.sync.imap.search import Term, parse_query, search_arguments


def test_words_phrases_and_fields_become_terms() -> None:
    assert parse_query('invoice "due date" from:alice Subject:report body:secret') == [
        Term(("TEXT",), "invoice"),
        Term(("TEXT",), "due date"),
        Term(("FROM",), "alice"),
        Term(("SUBJECT",), "report"),
        Term(("BODY",), "secret"),
    ]


def test_address_field_matches_any_of_from_to_cc() -> None:
    terms = parse_query("address:bob")
    assert terms == [Term(("FROM", "TO", "CC"), "bob")]
    assert search_arguments(terms) == [
        b"OR",
        b"OR",
        b"FROM",
        b'"bob"',
        b"TO",
        b'"bob"',
        b"CC",
        b'"bob"',
    ]


def test_prefix_star_is_dropped_and_unknown_fields_are_words() -> None:
    assert parse_query("repo* re:hello http://x.org") == [
        Term(("TEXT",), "repo"),
        Term(("TEXT",), "re:hello"),
        Term(("TEXT",), "http://x.org"),
    ]


def test_nothing_to_search() -> None:
    assert parse_query("") == []
    assert parse_query('  from: "" * \r\n ') == []
    with pytest.raises(ValueError):
        search_arguments([])


def test_ascii_text_is_always_a_quoted_string() -> None:
    # Atoms imapclient would leave bare: parentheses, braces (a literal announcement), wildcards.
    arguments = search_arguments(parse_query(r"a) (b {5} % * ]x"))
    assert arguments == [
        b"TEXT",
        b'"a)"',
        b"TEXT",
        b'"(b"',
        b"TEXT",
        b'"{5}"',
        b"TEXT",
        b'"%"',
        b"TEXT",
        b'"]x"',
    ]


def test_quotes_and_backslashes_are_escaped() -> None:
    terms = parse_query(r"subject:a\"b x\y")
    assert terms == [Term(("SUBJECT",), 'a\\"b'), Term(("TEXT",), "x\\y")]
    assert search_arguments(terms) == [b"SUBJECT", b'"a\\\\\\"b"', b"TEXT", b'"x\\\\y"']


def test_line_ends_and_controls_never_reach_the_command() -> None:
    query = 'x"\r\nA1 UID STORE 1:* +FLAGS (\\Deleted)\r\n\x00\x1b'
    arguments = search_arguments(parse_query(query))
    joined = b" ".join(arguments)
    assert not any(byte < 32 or byte == 127 for byte in joined)
    # Every argument is a key or a quoted string: nothing the server reads as a new command.
    for key, value in zip(arguments[::2], arguments[1::2], strict=True):
        assert key == b"TEXT"
        assert value.startswith(b'"') and value.endswith(b'"')
        inner = value[1:-1].replace(b"\\\\", b"").replace(b'\\"', b"")
        assert b'"' not in inner and b"\\" not in inner


def test_non_ascii_asks_for_utf8_and_goes_as_raw_bytes() -> None:
    arguments = search_arguments(parse_query("from:jürgen Grüße plain"))
    assert arguments == [
        b"CHARSET",
        b"UTF-8",
        b"FROM",
        "jürgen".encode(),
        b"TEXT",
        "Grüße".encode(),
        b"TEXT",
        b'"plain"',
    ]


def test_non_ascii_with_quotes_stays_one_raw_value() -> None:
    # Sent as a literal by imapclient (8-bit), so quotes inside need no escaping.
    arguments = search_arguments([Term(("TEXT",), 'ä"b\\')])
    assert arguments == [b"CHARSET", b"UTF-8", b"TEXT", 'ä"b\\'.encode()]
