"""parse_message / parse_envelope details not covered by the corpus."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tuimail.core.model import Address
from tuimail.mail.decode import decode_bytes
from tuimail.mail.headers import parse_envelope
from tuimail.mail.parse import ParsedMessage, TextPart, parse_message
from tuimail.mail.render import search_text


def test_empty_input() -> None:
    parsed = parse_message(b"")
    assert parsed.envelope.subject == "" and parsed.envelope.size == 0
    assert parsed.envelope.message_id is None
    assert not parsed.raw_only


def test_bytes_like_input_is_accepted() -> None:
    raw = b"Subject: hi\r\n\r\nbody\r\n"
    assert parse_message(bytearray(raw)).envelope.subject == "hi"
    assert parse_message(memoryview(raw)).text_parts == (TextPart("text/plain", "body\n"),)


def test_header_only_input() -> None:
    envelope = parse_envelope(b"Subject: only headers\r\nFrom: a@example.org\r\n\r\n")
    assert envelope.subject == "only headers"
    assert envelope.from_ == (Address("", "a@example.org"),)


def test_no_blank_line_means_all_headers() -> None:
    parsed = parse_message(b"Subject: x\r\nFrom: a@example.org")
    assert parsed.envelope.subject == "x"
    assert parsed.envelope.from_ == (Address("", "a@example.org"),)


def test_has_attachments_guess_from_headers() -> None:
    mixed = b'Content-Type: multipart/mixed; boundary="x"\r\nSubject: s\r\n\r\n'
    alternative = b'Content-Type: multipart/alternative; boundary="x"\r\n\r\n'
    assert parse_envelope(mixed).has_attachments
    assert not parse_envelope(alternative).has_attachments
    assert parse_envelope(
        b"Content-Disposition: attachment; filename=a.pdf\r\n\r\n"
    ).has_attachments


def test_mbox_from_line_is_ignored() -> None:
    raw = b"From alice@example.org Tue Mar  5 14:30:00 2024\r\nSubject: mbox\r\n\r\nbody\r\n"
    assert parse_envelope(raw).subject == "mbox"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 05 Mar 2024 14:30:00 +0100", datetime(2024, 3, 5, 13, 30, tzinfo=UTC)),
        ("5 Mar 2024 14:30 GMT", datetime(2024, 3, 5, 14, 30, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 14:30:00 -0000", datetime(2024, 3, 5, 14, 30, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 14:30:00", datetime(2024, 3, 5, 14, 30, tzinfo=UTC)),
        ("Tue, 05 Mar 24 14:30:00 EST", datetime(2024, 3, 5, 19, 30, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        ("Tue, 99 Foo 2024 99:99:99 +9999", None),
        ("Tue, 05 Mar 99999 14:30:00 +0100", None),
    ],
)
def test_dates_are_timezone_aware_or_none(value: str, expected: datetime | None) -> None:
    parsed = parse_message(f"Date: {value}\r\n\r\n".encode())
    assert parsed.envelope.date == expected
    if expected is not None:
        assert parsed.envelope.date is not None and parsed.envelope.date.tzinfo is not None


def test_message_ids_are_normalised() -> None:
    raw = (
        b"Message-ID:\r\n <folded@example.org>\r\n"
        b"In-Reply-To: <first@example.org> <second@example.org>\r\n"
        b"References: <a@x> <b@x>\r\n\t<a@x> <c@x>\r\n\r\n"
    )
    envelope = parse_envelope(raw)
    assert envelope.message_id == "folded@example.org"
    assert envelope.in_reply_to == "first@example.org"
    assert envelope.references == ("a@x", "b@x", "c@x")


def test_garbage_message_id_is_none() -> None:
    assert parse_envelope(b"Message-ID: just words here\r\n\r\n").message_id is None


def test_undisclosed_recipients_group_is_empty() -> None:
    envelope = parse_envelope(b"To: undisclosed-recipients:;\r\n\r\n")
    assert envelope.to == ()


def test_broken_address_does_not_raise() -> None:
    envelope = parse_envelope(b'From: "unterminated <a@example.org\r\nTo: @@@, <>, ,,\r\n\r\n')
    assert isinstance(envelope.from_, tuple)
    assert all(isinstance(a, Address) for a in envelope.to)


def test_no_surrogates_anywhere() -> None:
    raw = (
        b"Subject: \xff\xfe broken =?x-unknown?q?caf=E9?=\r\n"
        b"From: \xe9t\xe9 <a@example.org>\r\n"
        b"Content-Type: text/plain; charset=x-nope\r\n\r\n\xe9t\xe9 \xff\r\n"
    )
    parsed = parse_message(raw)
    for text in (parsed.envelope.subject, parsed.envelope.from_[0].name, parsed.text_parts[0].text):
        text.encode("utf-8")  # would raise on a lone surrogate
    # Raw bytes that are not UTF-8 read as Windows-1252; an encoded word in an unknown charset
    # is decoded by the email package, which replaces what is not UTF-8.
    assert parsed.envelope.subject == "ÿþ broken caf\ufffd"
    assert parsed.envelope.from_ == (Address("été", "a@example.org"),)
    assert parsed.text_parts[0].text == "été ÿ\n"


@pytest.mark.parametrize(
    ("data", "charset", "text", "problem"),
    [
        (b"caf\xc3\xa9", "utf-8", "café", None),
        (b"caf\xc3\xa9", None, "café", None),
        (
            b"caf\xe9",
            "us-ascii",
            "café",
            "text is not valid us-ascii; invalid bytes read as Windows-1252",
        ),
        (b"\x93q\x94", "ISO-8859-1", "“q”", None),
        (b"\xc4\xe3\xe9F", "gb2312", "你镕", None),  # GBK-only characters under a GB2312 label
        ("é".encode("koi8-r", "replace"), "koi8-r", "?", None),
        (b"abc", "x-nope", "abc", "unknown charset 'x-nope', decoded as UTF-8"),
        (b"+AOk-", "unicode-escape", "+AOk-", "unknown charset 'unicode-escape', decoded as UTF-8"),
        (b"abc", "base64", "abc", "unknown charset 'base64', decoded as UTF-8"),
        (b"\x1b$B$\x22\x1b(B", "iso-2022-jp", "あ", None),
        (b"\x81", "cp1252", "\ufffd", "text is not valid cp1252; some characters replaced"),
        (b"x", "a" * 500, "x", f"unknown charset '{'a' * 40}...', decoded as UTF-8"),
    ],
)
def test_decode_bytes(data: bytes, charset: str | None, text: str, problem: str | None) -> None:
    assert decode_bytes(data, charset) == (text, problem)


def test_text_parts_outside_alternatives_each_have_a_group() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n'
        b"--M\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
        b'--M\r\nContent-Type: multipart/alternative; boundary="A"\r\n\r\n'
        b"--A\r\nContent-Type: text/plain\r\n\r\nalt plain\r\n"
        b"--A\r\nContent-Type: text/html\r\n\r\n<p>alt html</p>\r\n--A--\r\n"
        b"--M\r\nContent-Type: text/plain\r\n\r\nfooter\r\n--M--\r\n"
    )
    parsed = parse_message(raw)
    assert [(p.content_type, p.group, p.text) for p in parsed.text_parts] == [
        ("text/plain", 0, "first"),
        ("text/plain", 1, "alt plain"),
        ("text/html", 1, "<p>alt html</p>"),
        ("text/plain", 2, "footer"),
    ]
    assert search_text(parsed) == "first\n\nalt plain\n\nfooter"


def test_calendar_alternative_is_not_shown_as_text() -> None:
    raw = (
        b'Content-Type: multipart/alternative; boundary="A"\r\n\r\n'
        b"--A\r\nContent-Type: text/plain\r\n\r\nInvitation\r\n"
        b"--A\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\n--A--\r\n"
    )
    parsed = parse_message(raw)
    assert [p.text for p in parsed.text_parts] == ["Invitation"]
    assert parsed.attachments == ()


def test_other_text_subtypes_outside_alternatives_are_shown() -> None:
    raw = b"Content-Type: text/x-diff\r\n\r\n-old\r\n+new\r\n"
    assert parse_message(raw).text_parts == (TextPart("text/plain", "-old\n+new\n"),)


def test_search_text_of_html_only() -> None:
    raw = b"Content-Type: text/html\r\n\r\n<p>Hello <b>world</b> \x1b[31m</p>\r\n"
    assert search_text(parse_message(raw)) == "Hello world"


def test_parsed_message_is_frozen() -> None:
    parsed = parse_message(b"Subject: x\r\n\r\n")
    assert isinstance(parsed, ParsedMessage)
    with pytest.raises(AttributeError):
        parsed.raw_only = True  # type: ignore[misc]
