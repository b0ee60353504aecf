"""The outbox state machine: every legal transition, every illegal one, history and recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tuimail.store import db, outbox, outbox_history, read, write
from tuimail.store.outbox import OutboxState

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
RAW = b"From: a@example.org\r\nTo: b@example.org\r\nMessage-ID: <m1@example.org>\r\n\r\nHi\r\n"


@pytest.fixture
def account(conn: db.StoreConnection) -> int:
    return write.ensure_account(conn, "work", None)


def queue(conn: db.StoreConnection, account: int, **kwargs: object) -> int:
    return outbox.enqueue(
        conn,
        account,
        RAW,
        message_id="m1@example.org",
        env_from="a@example.org",
        env_rcpts=["b@example.org", "hidden@example.org"],
        now=T0,
        **kwargs,  # type: ignore[arg-type]
    )


def state(conn: db.StoreConnection, item_id: int) -> OutboxState:
    item = outbox.get(conn, item_id)
    assert item is not None
    return item.state


def test_enqueue_keeps_bytes_envelope_and_message_id(
    conn: db.StoreConnection, account: int
) -> None:
    item_id = queue(conn, account)
    item = outbox.get(conn, item_id)
    assert item is not None
    assert item.state == OutboxState.QUEUED
    assert item.message_id == "m1@example.org"
    assert item.env_from == "a@example.org"
    assert item.env_rcpts == ("b@example.org", "hidden@example.org")
    assert item.next_attempt == T0 and item.created == T0 and item.attempts == 0
    assert outbox.raw_message(conn, item_id) == RAW
    assert [(h.from_state, h.to_state) for h in outbox_history.history(conn, item_id)] == [
        (None, OutboxState.QUEUED)
    ]


def test_enqueue_needs_recipients_and_message_id(conn: db.StoreConnection, account: int) -> None:
    with pytest.raises(ValueError, match="recipient"):
        outbox.enqueue(conn, account, RAW, message_id="x@y", env_from="a@b", env_rcpts=[])
    with pytest.raises(ValueError, match="Message-ID"):
        outbox.enqueue(conn, account, RAW, message_id="", env_from="a@b", env_rcpts=["c@d"])
    assert outbox.items(conn) == []


def test_grace_period_and_schedule_decide_when_it_is_due(
    conn: db.StoreConnection, account: int
) -> None:
    graced = queue(conn, account, not_before=T0 + timedelta(seconds=10))
    later = queue(conn, account, scheduled_at=T0 + timedelta(hours=2))
    assert outbox.due(conn, now=T0 + timedelta(seconds=9)) == []
    assert [i.id for i in outbox.due(conn, now=T0 + timedelta(seconds=10))] == [graced]
    assert [i.id for i in outbox.due(conn, now=T0 + timedelta(hours=2))] == [graced, later]
    scheduled = outbox.get(conn, later)
    assert scheduled is not None and scheduled.scheduled_at == T0 + timedelta(hours=2)


def test_happy_path_records_the_reply(conn: db.StoreConnection, account: int) -> None:
    item_id = queue(conn, account)
    taken = outbox.begin_sending(conn, item_id, now=T0)
    assert taken.state == OutboxState.SENDING and taken.attempts == 1
    outbox.mark_data_end(conn, item_id, now=T0)
    outbox.mark_sent(
        conn,
        item_id,
        "250 2.0.0 Ok: queued as ABC",
        details={"b@example.org": "250 ok", "hidden@example.org": "250 ok"},
        now=T0 + timedelta(seconds=1),
    )
    item = outbox.get(conn, item_id)
    assert item is not None
    assert item.state == OutboxState.SENT
    assert item.last_reply == "250 2.0.0 Ok: queued as ABC"
    entries = outbox_history.history(conn, item_id)
    assert [(e.from_state, e.to_state) for e in entries] == [
        (None, OutboxState.QUEUED),
        (OutboxState.QUEUED, OutboxState.SENDING),
        (OutboxState.SENDING, OutboxState.SENT),
    ]
    assert entries[-1].details == {"b@example.org": "250 ok", "hidden@example.org": "250 ok"}
    assert entries[-1].at == T0 + timedelta(seconds=1)


def test_temporary_refusal_goes_back_to_the_queue_with_backoff(
    conn: db.StoreConnection, account: int
) -> None:
    item_id = queue(conn, account)
    outbox.begin_sending(conn, item_id, now=T0)
    retry_at = T0 + timedelta(minutes=5)
    outbox.defer(conn, item_id, "451 4.3.0 try again later", retry_at=retry_at, now=T0)
    item = outbox.get(conn, item_id)
    assert item is not None
    assert item.state == OutboxState.QUEUED
    assert item.next_attempt == retry_at
    assert item.last_reply == "451 4.3.0 try again later"
    assert outbox.due(conn, now=T0 + timedelta(minutes=4)) == []
    assert [i.id for i in outbox.due(conn, now=retry_at)] == [item_id]
    assert outbox.begin_sending(conn, item_id, now=retry_at).attempts == 2


def test_permanent_failure_then_user_retry(conn: db.StoreConnection, account: int) -> None:
    item_id = queue(conn, account)
    outbox.begin_sending(conn, item_id, now=T0)
    outbox.mark_failed(conn, item_id, "550 5.1.1 no such user", now=T0)
    assert state(conn, item_id) == OutboxState.FAILED
    assert outbox.due(conn, now=T0 + timedelta(days=1)) == []
    outbox.retry(conn, item_id, now=T0 + timedelta(hours=1))
    assert state(conn, item_id) == OutboxState.QUEUED
    assert [i.id for i in outbox.due(conn, now=T0 + timedelta(hours=1))] == [item_id]


def test_unknown_waits_for_the_user(conn: db.StoreConnection, account: int) -> None:
    first = queue(conn, account)
    second = queue(conn, account)
    for item_id in (first, second):
        outbox.begin_sending(conn, item_id, now=T0)
        outbox.mark_data_end(conn, item_id, now=T0)
        outbox.mark_unknown(conn, item_id, "connection lost after the final dot", now=T0)
    assert outbox.due(conn, now=T0 + timedelta(days=1)) == []
    outbox.confirm_sent(conn, first, "the user found it delivered", now=T0)
    assert state(conn, first) == OutboxState.SENT
    outbox.retry(conn, second, now=T0)
    assert state(conn, second) == OutboxState.QUEUED


ILLEGAL = [
    # (how to reach the state, the call that must be refused)
    ("queued", lambda c, i: outbox.mark_sent(c, i, "250", now=T0)),
    ("queued", lambda c, i: outbox.mark_failed(c, i, "550", now=T0)),
    ("queued", lambda c, i: outbox.mark_unknown(c, i, "?", now=T0)),
    ("queued", lambda c, i: outbox.defer(c, i, "451", retry_at=T0, now=T0)),
    ("queued", lambda c, i: outbox.retry(c, i, now=T0)),
    ("queued", lambda c, i: outbox.mark_data_end(c, i, now=T0)),
    ("queued", lambda c, i: outbox.confirm_sent(c, i, "yes", now=T0)),
    ("sending", lambda c, i: outbox.begin_sending(c, i, now=T0)),
    ("sending", lambda c, i: outbox.retry(c, i, now=T0)),
    ("sending", lambda c, i: outbox.cancel(c, i)),
    ("sending", lambda c, i: outbox.confirm_sent(c, i, "yes", now=T0)),
    ("sent", lambda c, i: outbox.begin_sending(c, i, now=T0)),
    ("sent", lambda c, i: outbox.retry(c, i, now=T0)),
    ("sent", lambda c, i: outbox.mark_failed(c, i, "550", now=T0)),
    ("sent", lambda c, i: outbox.cancel(c, i)),
    ("failed", lambda c, i: outbox.begin_sending(c, i, now=T0)),
    ("failed", lambda c, i: outbox.mark_sent(c, i, "250", now=T0)),
    ("unknown", lambda c, i: outbox.begin_sending(c, i, now=T0)),
    ("unknown", lambda c, i: outbox.defer(c, i, "451", retry_at=T0, now=T0)),
]


def reach(conn: db.StoreConnection, account: int, target: str) -> int:
    item_id = queue(conn, account)
    if target == "queued":
        return item_id
    outbox.begin_sending(conn, item_id, now=T0)
    if target == "sent":
        outbox.mark_sent(conn, item_id, "250 ok", now=T0)
    elif target == "failed":
        outbox.mark_failed(conn, item_id, "550 no", now=T0)
    elif target == "unknown":
        outbox.mark_unknown(conn, item_id, "lost", now=T0)
    assert state(conn, item_id) == OutboxState(target)
    return item_id


@pytest.mark.parametrize(("start", "call"), ILLEGAL)
def test_illegal_transitions_raise_and_change_nothing(
    conn: db.StoreConnection, account: int, start: str, call: object
) -> None:
    item_id = reach(conn, account, start)
    before = outbox.get(conn, item_id)
    history_before = outbox_history.history(conn, item_id)
    with pytest.raises(outbox.IllegalTransition, match=f"is {start}"):
        call(conn, item_id)  # type: ignore[operator]
    assert outbox.get(conn, item_id) == before
    assert outbox_history.history(conn, item_id) == history_before


def test_missing_item_is_a_store_error(conn: db.StoreConnection) -> None:
    with pytest.raises(db.StoreError, match="does not exist"):
        outbox.begin_sending(conn, 12345)
    with pytest.raises(db.StoreError, match="does not exist"):
        outbox.cancel(conn, 12345)


def test_cancel_returns_the_bytes_and_leaves_a_tombstone(
    conn: db.StoreConnection, account: int
) -> None:
    item_id = queue(conn, account)
    since = read.revision(conn)
    assert outbox.cancel(conn, item_id) == RAW
    assert outbox.get(conn, item_id) is None
    assert outbox_history.history(conn, item_id) == []
    assert read.changes_since(conn, since).outbox_gone == {item_id}


def test_sent_copy_is_recorded(conn: db.StoreConnection, account: int) -> None:
    item_id = reach(conn, account, "sent")
    outbox.mark_sent_copy_done(conn, item_id)
    item = outbox.get(conn, item_id)
    assert item is not None and item.sent_copy_done


def test_recovery_after_a_dead_sender(data_dir: Path, account: int) -> None:
    sender = db.open_store(data_dir)
    before_data = queue(sender, account)
    after_data = queue(sender, account)
    untouched = queue(sender, account)
    outbox.begin_sending(sender, before_data, now=T0)
    outbox.begin_sending(sender, after_data, now=T0)
    outbox.mark_data_end(sender, after_data, now=T0)
    sender.close()  # the sender is gone with both items in 'sending'

    conn = db.open_store(data_dir)
    try:
        later = T0 + timedelta(minutes=1)
        requeued, unknown = outbox.recover_interrupted(conn, now=later)
        assert (requeued, unknown) == ([before_data], [after_data])
        assert state(conn, before_data) == OutboxState.QUEUED
        assert state(conn, after_data) == OutboxState.UNKNOWN
        assert state(conn, untouched) == OutboxState.QUEUED
        assert [i.id for i in outbox.due(conn, now=later)] == [before_data, untouched]
        reason = outbox_history.history(conn, after_data)[-1].reply
        assert reason is not None and "check whether it arrived" in reason
        # A fresh attempt starts without the previous attempt's end-of-DATA mark.
        assert outbox.begin_sending(conn, before_data, now=later).data_end_at is None
    finally:
        conn.close()


def test_items_filter_by_account_and_state(conn: db.StoreConnection, account: int) -> None:
    other = write.ensure_account(conn, "home", None)
    mine = queue(conn, account)
    theirs = outbox.enqueue(
        conn, other, RAW, message_id="m2@x", env_from="c@x", env_rcpts=["d@x"], now=T0
    )
    outbox.begin_sending(conn, theirs, now=T0)
    assert [i.id for i in outbox.items(conn, account_id=account)] == [mine]
    assert [i.id for i in outbox.items(conn, states=[OutboxState.SENDING])] == [theirs]
    assert outbox.items(conn, states=[]) == []
    assert [i.id for i in outbox.due(conn, now=T0, account_id=other)] == []


def test_transitions_bump_the_revision(conn: db.StoreConnection, account: int) -> None:
    item_id = queue(conn, account)
    since = read.revision(conn)
    outbox.begin_sending(conn, item_id, now=T0)
    changes = read.changes_since(conn, since)
    assert changes.outbox == {item_id}
