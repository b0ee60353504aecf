"""compose: Draft -> RFC 5322 bytes, and back through the parser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tuimail.core.model import Address, Draft
from tuimail.mail.compose import ComposeError, compose, make_message_id
from tuimail.mail.parse import parse_message

DATE = datetime(2024, 3, 5, 14, 30, tzinfo=timezone(timedelta(hours=1)))
ALICE = Address("Alice Example", "alice@example.org")


def draft(**changes: object) -> Draft:
    fields: dict[str, object] = {
        "from_": ALICE,
        "to": (Address("Bob", "bob@example.com"),),
        "subject": "Hello",
        "body": "Hi Bob,\n\nsee you.\n",
    }
    fields.update(changes)
    return Draft(**fields)  # type: ignore[arg-type]


def test_round_trip_of_envelope_fields() -> None:
    original = draft(
        from_=Address("Jürgen Müller, Dr.", "juergen@example.org"),
        to=(Address("Bob", "bob@example.com"), Address("", "carol@example.net")),
        cc=(Address("Дмитрий", "dima@example.ru"),),
        subject="Grüße aus Köln ☕ — " + " ".join(["long subject"] * 10),
        in_reply_to="parent@example.org",
        references=("root@example.org", "<parent@example.org>"),
    )
    raw = compose(original, message_id="<fixed.1@example.org>", date=DATE)
    parsed = parse_message(raw)
    env = parsed.envelope
    assert env.from_ == (original.from_,)
    assert env.to == original.to
    assert env.cc == original.cc
    assert env.bcc == ()
    assert env.subject == original.subject
    assert env.date == DATE
    assert env.message_id == "fixed.1@example.org"
    assert env.in_reply_to == "parent@example.org"
    assert env.references == ("root@example.org", "parent@example.org")
    assert parsed.text_parts[0].text == original.body
    assert parsed.problems == () and not parsed.raw_only


@pytest.mark.parametrize(
    "subject",
    [
        "A plain ASCII subject that is long enough to be folded,  with two  double spaces "
        "and a_very_long_token_" + "x" * 90,
        "=?utf-8?q?looks_encoded?= but is literal text",
        "Emoji at a fold 🎉 " * 8,
    ],
)
def test_subject_round_trip_keeps_every_space(subject: str) -> None:
    subject = subject.strip()
    assert parse_message(compose(draft(subject=subject), date=DATE)).envelope.subject == subject


def test_output_is_crlf_and_seven_bit() -> None:
    raw = compose(draft(subject="Ünïcödé", body="Grüße\n" + "x" * 2000 + "\n"), date=DATE)
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"MIME-Version: 1.0\r\n" in raw
    assert b"Subject: =?utf-8?" in raw


def test_bcc_is_not_in_the_headers() -> None:
    raw = compose(draft(bcc=(Address("Secret", "secret@example.net"),)), date=DATE)
    assert b"secret@example.net" not in raw
    assert b"Bcc" not in raw


def test_default_message_id_and_date() -> None:
    raw = compose(draft())
    env = parse_message(raw).envelope
    assert env.message_id is not None and env.message_id.endswith("@example.org")
    assert env.date is not None
    assert abs((env.date - datetime.now(UTC)).total_seconds()) < 3600


def test_naive_date_is_local_time() -> None:
    naive = datetime(2024, 3, 5, 14, 30)
    env = parse_message(compose(draft(), date=naive)).envelope
    assert env.date == naive.astimezone()


def test_make_message_id() -> None:
    first, second = make_message_id("example.org"), make_message_id("example.org")
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", first)
    assert first != second
    assert make_message_id("bücher.example").endswith("@xn--bcher-kva.example>")
    for bad in ("", "a b", "x\r\ny", "<x>", "a@b"):
        with pytest.raises(ComposeError):
            make_message_id(bad)


def test_attachments_with_guessed_types_and_rfc2231_names(tmp_path: Path) -> None:
    pdf = tmp_path / "Grüße €.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(range(256)))
    text = tmp_path / "notes.txt"
    text.write_text("some notes\n")
    unknown = tmp_path / "data.weird-extension"
    unknown.write_bytes(b"\x00\x01")
    raw = compose(draft(attachments=(str(pdf), str(text), str(unknown))), date=DATE)
    assert b"filename*=utf-8''Gr%C3%BC%C3%9Fe%20%E2%82%AC.pdf" in raw
    parsed = parse_message(raw)
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("Grüße €.pdf", "application/pdf", 265),
        ("notes.txt", "text/plain", 11),
        ("data.weird-extension", "application/octet-stream", 2),
    ]
    assert parsed.text_parts[0].text == "Hi Bob,\n\nsee you.\n"
    # The attached bytes come back unchanged.
    stdlib = message_from_bytes(raw, policy=policy.default)
    payloads = [part.get_payload(decode=True) for part in stdlib.iter_attachments()]
    assert payloads[0] == pdf.read_bytes()
    assert [part.get("MIME-Version") for part in stdlib.iter_attachments()] == [None] * 3


def test_unreadable_attachment(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="cannot read attachment"):
        compose(draft(attachments=(str(tmp_path / "missing.pdf"),)))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.net"}, "Subject contains a line break"),
        ({"subject": "line\nbreak"}, "Subject contains a line break"),
        ({"subject": "lone\rcr"}, "Subject contains a line break"),
        ({"from_": Address("Eve\r\nX-Evil: 1", "eve@example.org")}, "From name"),
        ({"to": (Address("Bob", "bob@example.com\r\nBcc: x@y"),)}, "To address"),
        ({"cc": (Address("C\n", "c@example.com"),)}, "Cc name"),
        ({"bcc": (Address("", "b@example.com\n"),)}, "Bcc address"),
        ({"in_reply_to": "a@b\r\nX: y"}, "In-Reply-To contains a line break"),
        ({"references": ("ok@x", "bad@x\nX: y")}, "References contains a line break"),
        ({"extra_headers": (("X-Note", "a\r\nBcc: x@y"),)}, "header X-Note contains"),
        ({"extra_headers": (("X-Bad\r\nBcc", "v"),)}, "not a valid header name"),
        ({"extra_headers": (("X Bad", "v"),)}, "not a valid header name"),
        ({"extra_headers": (("Bcc", "x@example.com"),)}, "set from the draft"),
        ({"extra_headers": (("subject", "again"),)}, "set from the draft"),
        ({"to": (Address("Bob", "not-an-address"),)}, "is not an e-mail address"),
        ({"to": (Address("Bob", "a b@example.com"),)}, "is not a valid e-mail address"),
        ({"to": (Address("Bob", "b@exa mple.com"),)}, "is not a valid e-mail address"),
        ({"to": (Address("Bob", "b@ex\u200dample.com"),)}, "is not a valid domain name"),
        ({"in_reply_to": "two words"}, "not a valid message id"),
    ],
)
def test_bad_header_values_are_rejected(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ComposeError, match=re.escape(message)):
        compose(draft(**changes), date=DATE)


def test_message_id_with_a_line_break_is_rejected() -> None:
    with pytest.raises(ComposeError, match="Message-ID"):
        compose(draft(), message_id="<a@b>\r\nBcc: x@y")


def test_extra_headers_are_written() -> None:
    raw = compose(draft(extra_headers=(("X-Mailer", "tuimail"), ("Reply-To", "r@example.org"))))
    env = parse_message(raw).envelope
    assert b"X-Mailer: tuimail\r\n" in raw
    assert env.reply_to == (Address("", "r@example.org"),)


def test_idn_domain_is_encoded() -> None:
    raw = compose(draft(to=(Address("", "info@bücher.example"),)), date=DATE)
    assert b"To: info@xn--bcher-kva.example\r\n" in raw


def test_idn_domain_is_encoded_as_idna_2008() -> None:
    # IDNA 2003 (Python's "idna" codec) would write "strasse"; 2008 keeps the sharp s.
    raw = compose(draft(to=(Address("", "info@STRAẞE.example"),)), date=DATE)
    assert b"To: info@xn--strae-oqa.example\r\n" in raw


def test_non_ascii_local_part_is_written_in_utf8_headers() -> None:
    """RFC 6532: the address as UTF-8, its domain as A-labels; names and subject stay RFC 2047,
    the body stays 7-bit."""
    raw = compose(
        draft(to=(Address("Jörg", "jörg@exämple.org"),), subject="Grüße", body="Hallo Jörg"),
        date=DATE,
    )
    assert "<jörg@xn--exmple-cua.org>".encode() in raw
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Subject: =?utf-8?" in head
    assert body.isascii()
    env = parse_message(raw).envelope
    assert env.to == (Address("Jörg", "jörg@xn--exmple-cua.org"),)


def test_ascii_addresses_keep_the_message_7bit() -> None:
    raw = compose(draft(to=(Address("Jörg", "joerg@exämple.org"),), body="Hallo Jörg"))
    assert raw.isascii()


def test_compose_error_is_a_value_error() -> None:
    assert issubclass(ComposeError, ValueError)
