"""The header fast paths of `tuimail.mail.headers` give exactly what the email package gives."""

from __future__ import annotations

import base64
import itertools
import random
from email import policy

import pytest

from tuimail.mail import decode, headers

ADDRESS_PIECES = [
    "a@b.c",
    "Alice Example <alice@example.org>",
    "J. Q. Public <x@y.z>",
    "John.Smith <a@b>",
    "A  \t B <a@b.c>",
    "  <a@b>  ",
    "x <a@b>\r\n\t",
    '"Q, N" <a@b.c>',
    "a@b.c (comment)",
    "<>",
    "g: a@b;",
    "=?utf-8?q?x?= <a@b>",
    ".x <a@b>",
    "x.. <a@b>",
    "\udcc3\udca9 <a@b>",
    "a@b.c d@e.f",
    "a@[1.2.3.4]",
    "@@@",
    "a@b.",
    "Mr .X <a@b>",
    "",
]


def _slow_addresses(value: str) -> tuple[headers.Address, ...]:
    headers._decode_addresses.cache_clear()
    simple = headers._simple_addresses
    try:
        headers._simple_addresses = lambda _value: None  # type: ignore[assignment]
        return headers._decode_addresses.__wrapped__("to", value)
    finally:
        headers._simple_addresses = simple  # type: ignore[assignment]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_simple_address_lists_match_the_parser(count: int) -> None:
    for pieces in itertools.permutations(ADDRESS_PIECES, count):
        value = ", ".join(pieces)
        simple = headers._simple_addresses(value)
        if simple is not None:
            assert simple == _slow_addresses(value), value


def test_common_address_forms_take_the_fast_path() -> None:
    assert headers._simple_addresses("Alice Example <alice@example.org>, bob@example.org") == (
        headers.Address("Alice Example", "alice@example.org"),
        headers.Address("", "bob@example.org"),
    )
    assert headers._simple_addresses('"Quoted" <a@b>') is None


@pytest.mark.parametrize(
    "value",
    ["plain  x ", "a\r\n\tb", "tab\tx", "  ", "x\x1b[31m", "\x7f", "=?utf-8?b?w6k=?=", "été"],
)
def test_unstructured_fast_path_matches_the_parser(value: str) -> None:
    expected = decode.repair(str(policy.default.header_fetch_parse("subject", value)))
    assert headers._decode_unstructured(value) == expected.strip()


def _random_header(rnd: random.Random) -> bytes:
    content_types = [
        b"multipart/mixed; boundary=x",
        b"Multipart/Mixed",
        b" multipart/mixed (c)",
        b'"multipart/mixed"',
        b"text",
        b"multipart/mixed\r\n\tboundary=1",
        b"multipart/alternative ;x",
        b"multipart / mixed",
    ]
    header = b""
    for field in (b"From", b"To", b"Cc"):
        if rnd.random() < 0.8:
            pieces = rnd.sample(ADDRESS_PIECES, rnd.randint(1, 3))
            header += field + b": " + ", ".join(pieces).encode("utf-8", "surrogateescape") + b"\r\n"
    if rnd.random() < 0.8:
        header += b"Content-Type: " + rnd.choice(content_types) + b"\r\n"
    if rnd.random() < 0.3:
        header += b"Content-Disposition: attachment\r\n"
    header += b"Subject: " + rnd.choice([b"x  y", b"a\r\n\tb", b"\xc3\xa9t\xc3\xa9"]) + b"\r\n"
    if rnd.random() < 0.2:
        header += b"Subject :second\r\n"
    if rnd.random() < 0.1:
        header += b"Date: Mon, 1 Jan 2024 10:00:00 +0100\rX: y\r\n"
    return header + b"\r\n"


def _slow_envelope(raw: bytes) -> headers.Envelope:
    """The envelope with every fast path off: fields through the email package's parser."""
    msg = headers._parse_headers(headers._envelope_fields(raw))
    fields = headers.first_headers(msg)
    headers._decode_addresses.cache_clear()
    simple = headers._simple_addresses
    try:
        headers._simple_addresses = lambda _value: None  # type: ignore[assignment]
        attachments = msg.get_content_type() == "multipart/mixed" or fields.get(
            "content-disposition", ""
        ).strip().lower().startswith("attachment")
        envelope, _ = headers.build_envelope(fields, len(raw), attachments, [])
    finally:
        headers._simple_addresses = simple  # type: ignore[assignment]
        headers._decode_addresses.cache_clear()
    return envelope


def test_parse_envelope_matches_the_parser_on_random_headers() -> None:
    rnd = random.Random(20240601)
    for _ in range(400):
        raw = _random_header(rnd)
        assert headers.parse_envelope(raw) == _slow_envelope(raw), raw


def _encoded_word(rnd: random.Random) -> str:
    """An encoded word, mostly well formed, sometimes not in ways the fast path must refuse."""
    text = rnd.choice(["Åsa", "Müller", "田中", "a b", " lead", "trail ", "x\x07y", "ok", "_", ""])
    charset = rnd.choice(["utf-8", "UTF-8", "iso-8859-1", "us-ascii", "koi8-r", "utf-8*en"])
    try:
        data = text.encode("utf-8" if charset.lower().startswith("utf-8") else charset)
    except (UnicodeEncodeError, LookupError):
        data = text.encode("utf-8")
    if rnd.random() < 0.5:
        encoded = "".join(
            "_"
            if b == 0x20
            else chr(b)
            if 0x21 <= b < 0x7F and chr(b) not in "=?_"
            else f"={b:02X}"
            for b in data
        )
        encoded += rnd.choice(["", "", "", "=", "=4", "?", "=ZZ"])
        return f"=?{charset}?{rnd.choice('qQ')}?{encoded}?="
    encoded = base64.b64encode(data).decode()
    encoded = rnd.choice([encoded, encoded, encoded.rstrip("="), encoded + "A", encoded + "=="])
    return f"=?{charset}?{rnd.choice('bB')}?{encoded}?="


def test_display_names_with_encoded_words_match_the_parser() -> None:
    rnd = random.Random(20261207)
    fast = 0
    for _ in range(3000):
        words = [
            _encoded_word(rnd) if rnd.random() < 0.6 else rnd.choice(["Tanaka", "J.", "x", "Mr"])
            for _ in range(rnd.randint(1, 4))
        ]
        separator = rnd.choice([" ", " ", "  ", "\t", "\r\n "])
        value = separator.join(words) + f" <{rnd.choice(['a@b.c', 'x.y@z'])}>"
        if rnd.random() < 0.2:
            value += ", Plain Name <p@q.r>"
        simple = headers._simple_addresses(value)
        if simple is not None:
            fast += 1
            assert simple == _slow_addresses(value), value
    # Most of these are well formed: the fast path must take them, not only stay correct.
    assert fast > 500


def test_names_with_encoded_words_take_the_fast_path() -> None:
    assert headers._simple_addresses(
        "=?utf-8?q?=C3=85sa?= Tanaka <sa@example.net>,\r\n Heidi =?UTF-8?B?TcO8bGxlcg==?= <h@x.y>"
    ) == (
        headers.Address("Åsa Tanaka", "sa@example.net"),
        headers.Address("Heidi Müller", "h@x.y"),
    )
    # Adjacent encoded words: the space between them is not part of the name.
    assert headers._simple_addresses("=?utf-8?q?J=C3=BC?= =?utf-8?q?rgen?= <j@x.y>") == (
        headers.Address("Jürgen", "j@x.y"),
    )
    for refused in (
        "=?koi8-r?q?x?= <a@b>",  # a charset left to the parser
        "=?utf-8?q?a=ZZ?= <a@b>",  # a bad escape
        "=?utf-8?b?w6k?= <a@b>",  # bad padding
        "x=?utf-8?q?a?= <a@b>",  # not a whole word
        "=?utf-8?q?a?=@b.c",  # in an address
    ):
        assert headers._simple_addresses(refused) is None, refused
