"""No header can be injected into a composed message.

A CR or LF in any header value a user or a received message supplies (To, Subject, a display
name, In-Reply-To, References, an extra header, an attachment's file name) would start a new
header line, e.g. a hidden `Bcc:`. compose.py either refuses the value with ComposeError or
encodes it so that it stays inside its own header: each test parses the composed bytes back and
checks the exact set of header fields and their decoded values.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tuimail.core.model import Address, Draft
from tuimail.mail.compose import ComposeError, compose
from tuimail.mail.parse import parse_message
from tuimail.mail.reply import forward_draft, reply_draft

ALICE = Address("Alice", "alice@example.org")
BOB = Address("Bob", "bob@example.com")
INJECTED = "Bcc: victim@evil.example"
EXPECTED_FIELDS = {"from", "to", "subject", "date", "message-id", "mime-version"}
BODY_FIELDS = {"content-type", "content-transfer-encoding"}
# Line breaks for the email package and for str.splitlines(), plus NUL.
LINE_BREAKS = {
    "crlf": "\r\n",
    "lf": "\n",
    "cr": "\r",
    "lf-space": "\n ",  # a folded continuation line
}
OTHER_BREAKS = {
    "vt": "\x0b",
    "ff": "\x0c",
    "fs": "\x1c",
    "gs": "\x1d",
    "rs": "\x1e",
    "nel": "\x85",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
    "nul": "\x00",
}


def draft(**changes: object) -> Draft:
    fields: dict[str, object] = {"from_": ALICE, "to": (BOB,), "subject": "Hello", "body": "Hi\n"}
    fields.update(changes)
    return Draft(**fields)  # type: ignore[arg-type]


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_well_formed(raw: bytes) -> None:
    """CRLF line ends only, no NUL, nothing the parser had to repair in the header."""
    assert b"\0" not in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert not parsed(raw).defects


def header_fields(raw: bytes) -> set[str]:
    return {name.lower() for name in parsed(raw).keys()}  # noqa: SIM118 - keeps duplicates apart


# --- CR and LF: refused wherever they come from


def line_break_drafts(brk: str) -> dict[str, Draft]:
    evil = f"x{brk}{INJECTED}"
    return {
        "subject": draft(subject=evil),
        "to-name": draft(to=(Address(evil, "bob@example.com"),)),
        "to-address": draft(to=(Address("Bob", f"bob@example.com{brk}{INJECTED}"),)),
        "cc-name": draft(cc=(Address(evil, "carol@example.com"),)),
        "bcc-address": draft(bcc=(Address("", f"dave@example.com{brk}{INJECTED}"),)),
        "from-name": draft(from_=Address(evil, "alice@example.org")),
        "in-reply-to": draft(in_reply_to=f"<a@b>{brk}{INJECTED}"),
        "references": draft(references=("<ok@x>", f"<a@b>{brk}{INJECTED}")),
        "extra-header-value": draft(extra_headers=(("X-Note", evil),)),
        "extra-header-name": draft(extra_headers=((f"X-Note{brk}Bcc", "victim@evil.example"),)),
    }


CASES = [
    (field, name)
    for name, brk in LINE_BREAKS.items()
    for field in line_break_drafts(brk)
    if not (field == "extra-header-name" and brk == "\n ")
]


@pytest.mark.parametrize(("field", "brk"), CASES, ids=[f"{f}-{b}" for f, b in CASES])
def test_line_break_in_a_header_value_is_refused(field: str, brk: str) -> None:
    with pytest.raises(ComposeError) as caught:
        compose(line_break_drafts(LINE_BREAKS[brk])[field])
    assert INJECTED not in str(caught.value)  # the error names the field, not the value
    assert str(caught.value).isprintable()


def test_message_id_with_a_line_break_is_refused() -> None:
    with pytest.raises(ComposeError, match="Message-ID"):
        compose(draft(), message_id=f"<a@b>\r\n{INJECTED}")


# --- other control characters and Unicode line ends: refused too (the email package splits
# header values with str.splitlines(); a NUL would end a C string on a server)


def other_break_drafts(brk: str) -> dict[str, Draft]:
    evil = f"x{brk}{INJECTED}"
    return {
        "Subject": draft(subject=evil),
        "To name": draft(to=(Address(evil, "bob@example.com"),)),
        "header X-Note": draft(extra_headers=(("X-Note", evil),)),
        "In-Reply-To": draft(in_reply_to=f"<a{brk}b@example.org>"),
    }


OTHER_CASES = [(field, name) for name in OTHER_BREAKS for field in other_break_drafts("")]


@pytest.mark.parametrize(
    ("field", "brk"), OTHER_CASES, ids=[f"{f.replace(' ', '-')}-{b}" for f, b in OTHER_CASES]
)
def test_other_control_characters_are_refused(field: str, brk: str) -> None:
    character = OTHER_BREAKS[brk]
    with pytest.raises(ComposeError) as caught:
        compose(other_break_drafts(character)[field])
    assert str(caught.value) == (
        f"{field} contains a control character (U+{ord(character):04X}), which is not allowed"
    )


def test_tab_in_a_subject_is_allowed() -> None:
    """TAB is header whitespace, not a line end (guards the test above)."""
    raw = compose(draft(subject="a\tb"))
    assert_well_formed(raw)
    assert header_fields(raw) == EXPECTED_FIELDS | BODY_FIELDS


# --- text that only looks like an encoded line break stays text


def test_encoded_word_lookalike_in_the_subject_is_not_decoded_into_a_break() -> None:
    subject = "=?utf-8?q?Hi=0D=0ABcc:_victim@evil.example?="
    raw = compose(draft(subject=subject))
    assert_well_formed(raw)
    assert header_fields(raw) == EXPECTED_FIELDS | BODY_FIELDS
    assert str(parsed(raw)["Subject"]) == subject


def test_display_name_cannot_add_a_recipient() -> None:
    """Quotes, commas and angle brackets in a name stay in the name (address injection)."""
    name = 'Eve <victim@evil.example>, "Mallory'
    raw = compose(draft(to=(Address(name, "bob@example.com"),)))
    assert_well_formed(raw)
    addresses = parsed(raw)["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in addresses] == [(name, "bob@example.com")]


# --- an attachment's file name (a Linux file name may hold CR and LF)


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_attachment_file_name_with_a_line_break_stays_in_its_parameter(
    tmp_path: Path, brk: str
) -> None:
    path = tmp_path / f"report{brk}{INJECTED}.txt"
    path.write_bytes(b"data\n")
    raw = compose(draft(attachments=(str(path),)))
    assert_well_formed(raw)
    message = parsed(raw)
    assert "bcc" not in header_fields(raw)
    parts = list(message.iter_attachments())
    assert len(parts) == 1
    assert {k.lower() for k in parts[0].keys()} == {  # noqa: SIM118
        "content-type",
        "content-disposition",
        "content-transfer-encoding",
    }
    # The name's control characters became "_"; the rest is text inside the parameter.
    assert parts[0].get_filename() == f"report{'_' * len(brk)}{INJECTED}.txt"
    assert parts[0].get_content() == "data\n"


# --- a hostile received message answered or forwarded


HOSTILE = (
    # In a display name an encoded word may not hold ":" or "@" as such (RFC 2047 5.3).
    b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40evil=2Eexample?= <eve@evil.example>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: =?utf-8?q?Hi=0D=0ABcc:_victim@evil.example?=\r\n"
    b"Message-ID: <orig@evil.example>\r\n"
    b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    b"\r\n"
    b"Hello\r\n"
)


def test_reply_to_a_message_with_encoded_line_breaks_injects_nothing() -> None:
    reply = reply_draft(parse_message(HOSTILE), sender=ALICE, own=[ALICE.email])
    try:
        raw = compose(reply)
    except ComposeError as exc:
        pytest.fail(f"replying to a hostile message must still work: {exc}")
    assert_well_formed(raw)
    assert header_fields(raw) == EXPECTED_FIELDS | BODY_FIELDS | {"in-reply-to", "references"}
    message = parsed(raw)
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == (f"Eve {INJECTED}", "eve@evil.example")
    assert "Hi" in str(message["Subject"]) and "victim@evil.example" in str(message["Subject"])


def test_forward_of_a_message_with_encoded_line_breaks_injects_nothing() -> None:
    forward = forward_draft(parse_message(HOSTILE), sender=ALICE)
    raw = compose(dataclasses.replace(forward, to=(BOB,)))
    assert_well_formed(raw)
    assert header_fields(raw) == EXPECTED_FIELDS | BODY_FIELDS
    assert [a.addr_spec for a in parsed(raw)["To"].addresses] == ["bob@example.com"]
