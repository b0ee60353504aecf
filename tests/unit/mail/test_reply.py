"""Reply, reply-all and forward drafts: recipients, subjects, threading headers, quoting."""

from __future__ import annotations

from tuimail.core.model import Address
from tuimail.mail.compose import compose
from tuimail.mail.parse import parse_message
from tuimail.mail.reply import forward_draft, reply_draft, reply_subject

ME = Address("Alice Example", "alice@example.org")
OWN = ["alice@example.org", "Alice.Alt@example.net"]

ORIGINAL = (
    b"From: Bob <bob@example.com>\r\n"
    b"To: Alice <ALICE@example.org>, Carol <carol@example.com>\r\n"
    b"Cc: alice.alt@example.net, Dave <dave@example.com>, Carol <carol@example.com>\r\n"
    b"Subject: Re: RE: Aw: plans\r\n"
    b"Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n"
    b"Message-ID: <m3@example.com>\r\n"
    b"In-Reply-To: <m2@example.com>\r\n"
    b"References: <m1@example.com> <m2@example.com>\r\n"
    b"\r\n"
    b"Line one.\r\n\r\n> earlier quote\r\n"
)


def test_reply_goes_to_the_sender_and_threads() -> None:
    draft = reply_draft(parse_message(ORIGINAL), sender=ME, own=OWN)
    assert [a.email for a in draft.to] == ["bob@example.com"]
    assert draft.cc == ()
    assert draft.subject == "Re: plans"
    assert draft.in_reply_to == "m3@example.com"
    assert draft.references == ("m1@example.com", "m2@example.com", "m3@example.com")
    assert "On Tue, 03 Mar 2026 10:00, Bob wrote:\n> Line one.\n>\n> > earlier quote" in draft.body


def test_reply_all_copies_everyone_but_me_once() -> None:
    draft = reply_draft(parse_message(ORIGINAL), sender=ME, own=OWN, reply_all=True)
    assert [a.email for a in draft.to] == ["bob@example.com"]
    assert [a.email for a in draft.cc] == ["carol@example.com", "dave@example.com"]


def test_reply_to_header_wins_and_own_message_replies_to_its_recipients() -> None:
    with_reply_to = ORIGINAL.replace(b"Subject:", b"Reply-To: list@example.com\r\nSubject:")
    assert [a.email for a in reply_draft(parse_message(with_reply_to), sender=ME, own=OWN).to] == [
        "list@example.com"
    ]
    mine = ORIGINAL.replace(b"From: Bob <bob@example.com>", b"From: Alice <alice@example.org>")
    to = reply_draft(parse_message(mine), sender=ME, own=OWN).to
    assert [a.email for a in to] == ["carol@example.com"]


def test_reply_composes_and_parses_back() -> None:
    draft = reply_draft(parse_message(ORIGINAL), sender=ME, own=OWN, reply_all=True)
    env = parse_message(compose(draft)).envelope
    assert env.in_reply_to == "m3@example.com"
    assert env.references == ("m1@example.com", "m2@example.com", "m3@example.com")
    assert env.subject == "Re: plans"


def test_subject_prefixes_do_not_pile_up() -> None:
    assert reply_subject("Re[2]: SV: x") == "Re: x"
    assert reply_subject("hello") == "Re: hello"


def test_forward_carries_headers_and_text_and_names_attachments() -> None:
    draft = forward_draft(parse_message(ORIGINAL), sender=ME)
    assert draft.subject == "Fwd: Re: RE: Aw: plans"
    assert draft.to == ()
    assert "---------- Forwarded message ----------" in draft.body
    assert "From: Bob <bob@example.com>" in draft.body
    assert "Line one." in draft.body
    assert draft.in_reply_to is None


def test_hostile_text_is_cleaned_before_it_is_quoted() -> None:
    hostile = ORIGINAL.replace(b"Line one.", b"Line \x1b[2Jone.")
    draft = reply_draft(parse_message(hostile), sender=ME, own=OWN)
    assert "\x1b" not in draft.body
