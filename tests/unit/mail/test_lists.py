"""List-* fields (RFC 2369, RFC 8058) and the answers mutt gives a list message: a reply to
the list, a private reply past a Reply-To that the list set to itself."""

from __future__ import annotations

from tuimail.core.model import Address
from tuimail.mail.lists import (
    Unsubscribe,
    list_info,
    list_reply_draft,
    private_reply_draft,
    unsubscribe_summary,
)
from tuimail.mail.parse import parse_message
from tuimail.mail.reply import reply_draft

ME = Address("Me", "me@home.example")

LIST_MESSAGE = (
    b"From: Carol <carol@example.org>\r\n"
    b"To: Developers <dev@lists.example.org>\r\n"
    b"Cc: Dan <dan@example.org>\r\n"
    b"Reply-To: dev@lists.example.org\r\n"
    b"Subject: [dev] notes\r\n"
    b"Message-ID: <n1@example.org>\r\n"
    b"List-Id: Developers <dev.lists.example.org>\r\n"
    b"List-Post: <mailto:dev@lists.example.org>\r\n"
    b"List-Unsubscribe: <mailto:leave@lists.example.org?subject=unsubscribe>,\r\n"
    b" <https://lists.example.org/u/abc>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"\r\nHello\r\n"
)


def test_list_fields_are_read() -> None:
    info = list_info(LIST_MESSAGE)
    assert info.post == Address("", "dev@lists.example.org")
    assert info.unsubscribe == (
        Unsubscribe("mailto", "mailto:leave@lists.example.org?subject=unsubscribe"),
        Unsubscribe("one-click", "https://lists.example.org/u/abc"),
    )
    assert info.preferred_unsubscribe() == info.unsubscribe[1]
    assert info.list_id == "Developers <dev.lists.example.org>"
    assert unsubscribe_summary(info) == (
        "mailto:leave@lists.example.org?subject=unsubscribe, "
        "https://lists.example.org/u/abc (one-click)"
    )


def test_https_without_one_click_is_only_a_web_page_and_http_never_posts() -> None:
    raw = LIST_MESSAGE.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b"")
    raw = raw.replace(
        b"<mailto:leave@lists.example.org?subject=unsubscribe>,", b"<http://x.example/u>,"
    )
    kinds = [way.kind for way in list_info(raw).unsubscribe]
    assert kinds == ["web", "web"]


def test_list_post_no_takes_no_posts() -> None:
    raw = LIST_MESSAGE.replace(
        b"<mailto:dev@lists.example.org>\r\n", b"NO (posting not allowed)\r\n"
    )
    info = list_info(raw)
    assert info.post is None and info.posting_refused
    assert list_reply_draft(parse_message(raw), info, sender=ME, own=()) is None


def test_a_list_reply_goes_to_the_list_alone() -> None:
    parsed = parse_message(LIST_MESSAGE)
    draft = list_reply_draft(parsed, list_info(LIST_MESSAGE), sender=ME, own=())
    assert draft is not None
    assert draft.to == (Address("", "dev@lists.example.org"),) and draft.cc == ()
    assert draft.subject == "Re: [dev] notes" and draft.in_reply_to == "n1@example.org"


def test_a_private_reply_skips_a_reply_to_the_list_set_to_itself() -> None:
    parsed = parse_message(LIST_MESSAGE)
    # The plain reply honours Reply-To: the list.
    assert reply_draft(parsed, sender=ME, own=()).to == (Address("", "dev@lists.example.org"),)
    draft = private_reply_draft(parsed, list_info(LIST_MESSAGE), sender=ME, own=())
    assert draft.to == (Address("Carol", "carol@example.org"),) and draft.cc == ()


def test_a_private_reply_keeps_a_reply_to_the_sender_chose() -> None:
    raw = LIST_MESSAGE.replace(b"Reply-To: dev@lists.example.org", b"Reply-To: carol@home.example")
    draft = private_reply_draft(parse_message(raw), list_info(raw), sender=ME, own=())
    assert draft.to == (Address("", "carol@home.example"),)


def test_a_message_not_from_a_list_has_no_list_fields() -> None:
    raw = b"From: a@example.org\r\nTo: me@home.example\r\nReply-To: b@example.org\r\n\r\nx\r\n"
    info = list_info(raw)
    assert not info.is_list and info.preferred_unsubscribe() is None
    draft = private_reply_draft(parse_message(raw), info, sender=ME, own=())
    assert draft.to == (Address("", "b@example.org"),)
