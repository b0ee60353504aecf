"""Forward as attachment and drafts from messages: the original's bytes carried exactly as a
message/rfc822 part, "Fwd:" subjects, a Drafts-folder message turned back into a Draft."""

from __future__ import annotations

import email
import email.policy

from tuimail.core.model import Address, Draft
from tuimail.mail.compose import compose
from tuimail.mail.parse import parse_message
from tuimail.mail.reply import draft_from_message, forward_attached_draft

ME = Address("Alice Example", "alice@example.org")
ORIGINAL = (
    b"From: Bob <bob@example.com>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and plans\r\n"
    b"Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n"
    b"Message-ID: <m3@example.com>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Gr\xc3\xbc\xc3\x9fe, 8-bit text.\r\n"
    b"--not-a-boundary\r\n"
    b".\r\n"
)


def _attached_parts(raw: bytes) -> list[email.message.Message]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return [p for p in parsed.walk() if p.get_content_type() == "message/rfc822"]


def test_the_forward_carries_the_original_bytes_exactly() -> None:
    env = parse_message(ORIGINAL).envelope
    draft = forward_attached_draft(env, 42, sender=ME)
    assert draft.subject == "Fwd: Grüße and plans"
    assert draft.body == "" and draft.attached_messages == (42,)
    assert draft.in_reply_to is None and draft.to == ()

    raw = compose(
        Draft(
            from_=ME,
            to=(Address("", "carol@example.com"),),
            subject=draft.subject,
            body="See below.\n",
        ),
        message_id="<fwd@example.org>",
        messages=[ORIGINAL],
    )
    # The bytes sit between the part header and the next boundary, unchanged.
    boundary = email.message_from_bytes(raw).get_boundary()
    assert boundary is not None and boundary.encode() not in ORIGINAL
    part_start = raw.index(b"Content-Type: message/rfc822")
    body_start = raw.index(b"\r\n\r\n", part_start) + 4
    assert raw[body_start : body_start + len(ORIGINAL)] == ORIGINAL
    assert raw[body_start + len(ORIGINAL) :].startswith(b"\r\n--" + boundary.encode() + b"--")
    (part,) = _attached_parts(raw)
    assert part["Content-Transfer-Encoding"] == "8bit"
    assert part.get_content_disposition() == "attachment"
    inner = part.get_payload(0)
    assert inner["Message-ID"] == "<m3@example.com>"
    # The text part is still the sender's own.
    assert parse_message(raw).envelope.subject == "Fwd: Grüße and plans"
    assert "See below." in raw.decode("ascii", "replace")


def test_several_messages_and_files_together(tmp_path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("notes\n")
    second = b"From: x@example.com\nSubject: lf only\n\nbare LF lines\n"
    raw = compose(
        Draft(from_=ME, subject="two", attachments=(str(file),)),
        messages=[ORIGINAL, second],
    )
    parts = _attached_parts(raw)
    assert len(parts) == 2
    assert ORIGINAL in raw
    # Bare LF line ends become CRLF (SMTP carries nothing else); the text is the same.
    assert second.replace(b"\n", b"\r\n") in raw
    assert "Content-Transfer-Encoding" not in parts[1]  # ASCII: 7bit, the default
    assert b'filename="notes.txt"' in raw


def test_a_boundary_found_in_an_attached_message_is_chosen_again() -> None:
    # Forwarding a message composed here before: its boundary style is the same.
    earlier = compose(Draft(from_=ME, subject="inner"), messages=[ORIGINAL])
    raw = compose(Draft(from_=ME, subject="outer"), messages=[earlier])
    outer = email.message_from_bytes(raw).get_boundary()
    inner = email.message_from_bytes(earlier).get_boundary()
    assert outer is not None and inner is not None and outer != inner
    assert earlier in raw


def test_a_server_draft_becomes_a_draft_to_edit() -> None:
    saved = (
        b"From: alice@example.org\r\n"
        b"To: Bob <bob@example.com>\r\n"
        b"Cc: cy@example.net\r\n"
        b"Bcc: secret@example.net\r\n"
        b"Subject: half done\r\n"
        b"Message-ID: <draft1@phone.example>\r\n"
        b"In-Reply-To: <m3@example.com>\r\n"
        b"References: <m1@example.com> <m3@example.com>\r\n"
        b"\r\n"
        b"Dear Bob,\r\n\r\nmore later\r\n"
    )
    draft = draft_from_message(parse_message(saved), sender=ME)
    assert draft.from_ == ME
    assert [a.email for a in draft.to] == ["bob@example.com"]
    assert [a.email for a in draft.cc] == ["cy@example.net"]
    assert [a.email for a in draft.bcc] == ["secret@example.net"]
    assert draft.subject == "half done"
    assert draft.body.startswith("Dear Bob,\n\nmore later")
    assert draft.in_reply_to == "m3@example.com"
    assert draft.references == ("m1@example.com", "m3@example.com")
