"""A partial message (text without attachments) renders like a full one, its attachments
listed with their server sizes and marked as not downloaded."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

from tuimail.mail.attachments import OmittedPart, listed_attachments, render_partial
from tuimail.mail.parse import parse_message
from tuimail.mail.render import render_message


def _full() -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["Subject"] = "two files"
    msg.set_content("Hello,\n\nhere they are.\n")
    msg.add_attachment(b"x" * 3000, maintype="application", subtype="pdf", filename="a.pdf")
    msg.add_attachment("small", subtype="csv", filename="\x1b[31mb.csv")  # 7bit, not base64
    msg.set_boundary("bb")
    return msg.as_bytes(policy=policy.SMTP)


def _emptied(full: bytes) -> bytes:
    """Every attachment body left empty, as a rebuild leaves it."""
    pieces = full.split(b"--bb")
    out = [pieces[0], pieces[1]]  # the header and the text part stay
    for piece in pieces[2:-1]:
        out.append(piece[: piece.index(b"\r\n\r\n") + 4] + b"\r\n")
    out.append(pieces[-1])
    return b"--bb".join(out)


OMITTED = (
    OmittedPart("2", "application/pdf", "a.pdf", 4104),
    OmittedPart("3", "text/csv", "\x1b[31mb.csv", 5),
)


def test_partial_renders_the_text_and_marks_attachments_not_downloaded() -> None:
    full = _full()
    text = render_partial(_emptied(full), OMITTED)
    body = text.partition("\n\n[attachment]")[0]
    assert body == render_message(parse_message(full), full).split("\n\n[attachment]")[0]
    assert text.endswith(
        "[attachment] a.pdf (2.9 KB) (not downloaded)\n"  # base64: the decoded size, about
        "[attachment] b.csv (5 bytes) (not downloaded)"
    )
    assert "\x1b" not in text


def test_listed_attachments_match_sections_not_order() -> None:
    full = _full()
    only_second = (OMITTED[1],)
    listed = listed_attachments(_emptied(full), only_second)
    assert [(item.info.filename, item.local) for item in listed] == [
        ("a.pdf", True),
        ("\x1b[31mb.csv", False),
    ]


def test_a_full_message_lists_every_attachment_as_local() -> None:
    listed = listed_attachments(_full())
    assert [(item.info.filename, item.info.size, item.local) for item in listed] == [
        ("a.pdf", 3000, True),
        ("\x1b[31mb.csv", 7, True),  # "small" and its CRLF
    ]
