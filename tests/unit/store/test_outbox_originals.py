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
    outbox_originals.set_originals(conn, item, [(original, ANSWERED)])
    assert outbox_originals.originals(conn, item) == ((original, ANSWERED),)
    row = read.row(conn, original)
    assert row is not None and ANSWERED not in row.flags  # queued: nothing yet
    assert outbox_originals.flag_originals(conn, item) == {imap_account}
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
    outbox_originals.set_originals(conn, item, [(original, FORWARDED)])
    write.expunge_uids(conn, inbox, [5])
    assert outbox_originals.originals(conn, item) == ()
    assert outbox_originals.flag_originals(conn, item) == set()
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
    outbox_originals.set_originals(conn, item, [(original, ANSWERED)])
    fields = Draft(from_=Address("", "a@example.org"), subject="Re: hi")
    stored = drafts.take_back(conn, item, fields, [])
    assert outbox.get(conn, item) is None
    assert stored.draft.originals == ((original, ANSWERED),)


def _originals(conn: db.StoreConnection, inbox: int, count: int) -> list[int]:
    return write.store_messages(
        conn,
        inbox,
        [
            write.IncomingMessage(raw=make_message(message_id=f"o{n}@x"), uid=10 + n)
            for n in range(count)
        ],
    )


def test_a_forward_of_several_messages_flags_every_one_once_sent(
    conn: db.StoreConnection, imap_account: int, inbox: int
) -> None:
    first, second, third = _originals(conn, inbox, 3)
    item = _queue(conn, imap_account)
    outbox_originals.set_originals(conn, item, [(first, FORWARDED), (second, FORWARDED)])
    assert outbox_originals.originals(conn, item) == ((first, FORWARDED), (second, FORWARDED))
    assert all(FORWARDED not in row.flags for row in read.rows(conn, [first, second]))
    assert outbox_originals.flag_originals(conn, item) == {imap_account}
    flags = {row.id: row.flags for row in read.rows(conn, [first, second, third])}
    assert FORWARDED in flags[first] and FORWARDED in flags[second]
    assert FORWARDED not in flags[third]
    # One STORE for both on the server: one op for their folder.
    (op,) = ops.pending(conn, imap_account)
    assert op.kind is OpKind.FLAG and op.args["flag"] == FORWARDED
    assert sorted(t.uid for t in op.targets) == [10, 11]


def test_an_original_of_several_deleted_meanwhile_leaves_the_others_flagged(
    conn: db.StoreConnection, imap_account: int, inbox: int
) -> None:
    first, second = _originals(conn, inbox, 2)
    item = _queue(conn, imap_account)
    outbox_originals.set_originals(conn, item, [(first, FORWARDED), (second, FORWARDED)])
    write.expunge_uids(conn, inbox, [10])
    assert outbox_originals.originals(conn, item) == ((second, FORWARDED),)
    assert outbox_originals.flag_originals(conn, item) == {imap_account}
    (row,) = read.rows(conn, [second])
    assert FORWARDED in row.flags


def test_a_forward_of_several_taken_back_keeps_every_original(
    conn: db.StoreConnection, imap_account: int, inbox: int
) -> None:
    from tuimail.core.model import Address, Draft
    from tuimail.store import drafts

    first, second = _originals(conn, inbox, 2)
    item = _queue(conn, imap_account)
    outbox_originals.set_originals(conn, item, [(first, FORWARDED), (second, FORWARDED)])
    stored = drafts.take_back(conn, item, Draft(from_=Address("", "a@example.org")), [])
    assert stored.draft.originals == ((first, FORWARDED), (second, FORWARDED))
    (again,) = drafts.live(conn)
    assert again.draft.originals == ((first, FORWARDED), (second, FORWARDED))
    assert all(FORWARDED not in row.flags for row in read.rows(conn, [first, second]))


def test_a_draft_saved_with_one_original_reads_back_with_it() -> None:
    from tuimail.store import drafts

    fields = {"from": ["", "a@example.org"], "original": [11, ANSWERED]}
    assert drafts.draft_from_fields(fields).originals == ((11, ANSWERED),)
    assert drafts.draft_from_fields({"original": None}).originals == ()
