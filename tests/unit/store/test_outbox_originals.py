"""What an outbox item answers or forwards (flagged only when it is recorded sent) and the
recipients refused for good (kept until dismissed)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.mailfactory import make_message
from tuimail.core.model import ANSWERED, FORWARDED
from tuimail.store import db, ops, outbox, outbox_originals, outbox_refusals, read, write
from tuimail.store.ops import OpKind

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
RAW = b"To: b@example.org\r\nMessage-ID: <r1@example.org>\r\n\r\nHi\r\n"


def _queue(conn: db.StoreConnection, account: int) -> int:
    return outbox.enqueue(
        conn, account, RAW, message_id="r1@example.org", env_from="a@example.org",
        env_rcpts=["b@example.org"], now=T0,
    )  # fmt: skip


def _original(conn: db.StoreConnection, inbox: int) -> int:
    (message_id,) = write.store_messages(
        conn, inbox, [write.IncomingMessage(raw=make_message(message_id="o@x"), uid=5)]
    )
    return message_id


def test_the_original_is_flagged_only_when_asked_and_the_op_waits_for_the_replay(
    conn: db.StoreConnection, imap_account: int, inbox: int
) -> None:
    original = _original(conn, inbox)
    item = _queue(conn, imap_account)
    outbox_originals.set_original(conn, item, original, ANSWERED)
    assert outbox_originals.original(conn, item) == (original, ANSWERED)
    row = read.row(conn, original)
    assert row is not None and ANSWERED not in row.flags  # queued: nothing yet
    assert outbox_originals.flag_original(conn, item) == imap_account
    row = read.row(conn, original)
    assert row is not None and ANSWERED in row.flags
    (op,) = ops.pending(conn, imap_account)
    assert op.kind is OpKind.FLAG and op.args["flag"] == ANSWERED
    assert [t.uid for t in op.targets] == [5]


def test_an_original_deleted_meanwhile_is_not_flagged(
    conn: db.StoreConnection, imap_account: int, inbox: int
) -> None:
    original = _original(conn, inbox)
    item = _queue(conn, imap_account)
    outbox_originals.set_original(conn, item, original, FORWARDED)
    write.expunge_uids(conn, inbox, [5])
    assert outbox_originals.original(conn, item) is None
    assert outbox_originals.flag_original(conn, item) is None
    assert ops.pending(conn, imap_account) == []


def test_refusals_stay_until_dismissed(conn: db.StoreConnection, imap_account: int) -> None:
    item = _queue(conn, imap_account)
    outbox.begin_sending(conn, item, now=T0)
    outbox_refusals.record_refusals(
        conn, item, {"x@elsewhere.invalid": "554 5.7.1 Relay access denied"}
    )
    outbox.mark_sent(conn, item, "250 ok (1 of 2 recipients accepted)", now=T0)
    assert [i.id for i in outbox_refusals.with_refusals(conn)] == [item]
    assert outbox_refusals.refusals(conn, item) == {
        "x@elsewhere.invalid": "554 5.7.1 Relay access denied"
    }
    outbox_refusals.dismiss_refusals(conn, item)
    assert outbox_refusals.with_refusals(conn) == []
    assert outbox_refusals.refusals(conn, item) == {}


def test_a_reply_taken_back_stays_a_reply_and_marks_its_original_when_sent_again(
    conn: db.StoreConnection, imap_account: int, inbox: int
) -> None:
    from tuimail.core.model import Address, Draft
    from tuimail.store import drafts

    original = _original(conn, inbox)
    item = _queue(conn, imap_account)
    outbox_originals.set_original(conn, item, original, ANSWERED)
    fields = Draft(from_=Address("", "a@example.org"), subject="Re: hi")
    stored = drafts.take_back(conn, item, fields, [])
    assert outbox.get(conn, item) is None
    assert stored.draft.original == (original, ANSWERED)
