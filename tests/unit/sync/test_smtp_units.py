"""Pure parts of sending: dot-stuffing (whole and chunk by chunk), backoff, the Sent copy's
Bcc, preparing a message file, and why an item is still held."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tuimail.cli.send import SendUsageError, held_reason, prepare_message
from tuimail.config.schema import AccountConfig, Identity
from tuimail.store.outbox import OutboxItem, OutboxState
from tuimail.sync.smtp.send import DotStuffer, _split_at, backoff
from tuimail.sync.smtp.sent_copy import sent_copy_bytes

ACCOUNT = AccountConfig(name="home", address="alice@example.org", display_name="Alice Ä")
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def dot_stuffed(raw: bytes) -> bytes:
    """`raw` in one piece through the DotStuffer that send_data writes DATA with."""
    stuffer = DotStuffer()
    return stuffer.feed(raw) + stuffer.finish()


def test_dot_stuffing_doubles_leading_dots_and_makes_crlf() -> None:
    raw = b"Subject: x\n\n.one\r\n..two\rthree.\n."
    assert dot_stuffed(raw) == b"Subject: x\r\n\r\n..one\r\n...two\r\nthree.\r\n..\r\n"
    assert dot_stuffed(b"a\r\n").endswith(b"a\r\n")


def test_backoff_doubles_from_a_minute_up_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (1, 2, 4)]
    assert backoff(30) == timedelta(hours=1)


def test_sent_copy_names_only_the_hidden_recipients() -> None:
    raw = b"To: Bob <bob@example.org>\r\nCc: carol@example.org\r\nSubject: s\r\n\r\nbody\r\n"
    copy = sent_copy_bytes(raw, ["bob@example.org", "CAROL@example.org", "dave@example.org"])
    assert copy == raw.replace(b"Subject: s\r\n", b"Subject: s\r\nBcc: dave@example.org\r\n")
    assert sent_copy_bytes(raw, ["bob@example.org"]) == raw


def test_prepare_adds_from_date_message_id_and_strips_bcc() -> None:
    data = b"To: bob@example.org\nBcc: eve@example.org,\n\tmallory@example.org\nSubject: hi\n\nx\n"
    prepared = prepare_message(data, ACCOUNT, now=NOW)
    header, _, body = prepared.raw.partition(b"\r\n\r\n")
    assert b"\n" not in prepared.raw.replace(b"\r\n", b"")
    assert body == b"x\r\n"
    assert b"Bcc" not in header and b"eve" not in header and b"mallory" not in header
    assert b"From: =?utf-8?" in header and b"<alice@example.org>" in header
    assert b"Date: Wed, 01 May 2024" in header
    assert f"Message-ID: <{prepared.message_id}>".encode() in header
    assert prepared.message_id.endswith("@example.org")
    assert prepared.env_from == "alice@example.org"
    assert prepared.env_rcpts == ("bob@example.org", "eve@example.org", "mallory@example.org")


def test_prepare_keeps_what_the_message_has() -> None:
    data = (
        b"From: Boss <boss@example.org>\r\nTo: bob@example.org, BOB@example.org\r\n"
        b"Date: Tue, 30 Apr 2024 10:00:00 +0000\r\nMessage-ID: <fixed@x>\r\n\r\nbody\r\n"
    )
    prepared = prepare_message(data, ACCOUNT, now=NOW)
    assert prepared.raw == data
    assert prepared.message_id == "fixed@x"
    assert prepared.env_rcpts == ("bob@example.org",)


def test_a_from_naming_an_identity_is_the_envelope_sender() -> None:
    account = replace(ACCOUNT, identities=(Identity("help@example.org", "Help"),))
    data = b"From: Help <HELP@example.org>\r\nTo: bob@example.org\r\n\r\nbody\r\n"
    assert prepare_message(data, account, now=NOW).env_from == "help@example.org"
    # Another address in From is not the account's to give as the sender.
    data = b"From: Boss <boss@example.org>\r\nTo: bob@example.org\r\n\r\nbody\r\n"
    assert prepare_message(data, account, now=NOW).env_from == "alice@example.org"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"Subject: nobody\n\nbody\n", "no recipient"),
        (b"\nbody only\n", "no header"),
        (b"To: bob@example.org\nthis is not a header\n\nbody\n", "line 2"),
        (b"To: not-an-address\n\nbody\n", "not an e-mail address"),
    ],
)
def test_prepare_refuses_what_is_not_a_sendable_message(data: bytes, problem: str) -> None:
    with pytest.raises(SendUsageError, match=problem):
        prepare_message(data, ACCOUNT, now=NOW)


def _item(**changes: object) -> OutboxItem:
    fields: dict[str, object] = {
        "id": 1,
        "account_id": 1,
        "message_id": "m@x",
        "env_from": "a@x",
        "env_rcpts": ("b@x",),
        "state": OutboxState.QUEUED,
        "attempts": 0,
        "next_attempt": NOW + timedelta(seconds=10),
        "scheduled_at": None,
        "data_end_at": None,
        "last_reply": None,
        "sent_copy_done": False,
        "created": NOW,
        "updated": NOW,
        "revision": 1,
    }
    fields.update(changes)
    return OutboxItem(**fields)  # type: ignore[arg-type]


def test_held_reasons_say_why_an_item_waits() -> None:
    assert "grace period" in held_reason(_item(), NOW)
    later = NOW + timedelta(days=1)
    assert "scheduled for" in held_reason(_item(next_attempt=later, scheduled_at=later), NOW)
    assert "try again after a temporary refusal or failure (2 attempts so far)" in held_reason(
        _item(attempts=2), NOW
    )
    assert "due" in held_reason(_item(next_attempt=NOW), NOW)
    assert "failed" in held_reason(_item(state=OutboxState.FAILED), NOW)
    assert "unknown" in held_reason(_item(state=OutboxState.UNKNOWN), NOW)


def _reference_dot_stuffed(raw: bytes) -> bytes:
    """DATA as the whole-message regexes make it (the definition the chunked one must meet)."""
    body = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", body)


@given(
    raw=st.binary(max_size=60).map(lambda b: bytes(b"a.\r\n"[x % 4] for x in b)),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8),
)
def test_chunked_dot_stuffing_equals_the_whole_message(raw: bytes, cuts: list[int]) -> None:
    # A CR, an LF or a "." at any chunk border (lines split across chunks) changes nothing.
    points = sorted({c for c in cuts if c <= len(raw)} | {0, len(raw)})
    stuffer = DotStuffer()
    out = b"".join(stuffer.feed(raw[a:b]) for a, b in itertools.pairwise(points))
    assert out + stuffer.finish() == _reference_dot_stuffed(raw)
    assert dot_stuffed(raw) == _reference_dot_stuffed(raw)


def test_split_at_marks_the_middle_once_and_keeps_every_byte() -> None:
    pieces = list(_split_at([b"abc", b"defg", b"h"], 5))
    assert pieces == [b"abc", b"de", None, b"fg", b"h"]
    assert list(_split_at([b"abcd"], 0)) == [None, b"abcd"]
    assert list(_split_at([b"ab"], 2)) == [b"ab", None]
