"""Items that wait only because the server could not be reached: marked when deferred, and made
due at once when it answers again; nothing else in the outbox moves."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tuimail.store import db, outbox, read, schema, write
from tuimail.store.outbox import OutboxState

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
BACK = T0 + timedelta(seconds=20)  # the server answers again, before any backoff is over
RAW = b"From: a@example.org\r\nTo: b@example.org\r\nMessage-ID: <m1@example.org>\r\n\r\nHi\r\n"
REFUSED = "connection refused by smtp.example.org:587 — is the server running?"


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
        env_rcpts=["b@example.org"],
        now=T0,
        **kwargs,  # type: ignore[arg-type]
    )


def tried(conn: db.StoreConnection, item_id: int, reply: str, *, unreachable: bool) -> None:
    """One try at T0 that ends back in the queue with a minute's backoff."""
    outbox.begin_sending(conn, item_id, now=T0)
    outbox.defer(
        conn,
        item_id,
        reply,
        retry_at=T0 + timedelta(minutes=1),
        now=T0,
        unreachable=unreachable,
    )


def get(conn: db.StoreConnection, item_id: int) -> outbox.OutboxItem:
    item = outbox.get(conn, item_id)
    assert item is not None
    return item


def test_only_items_the_server_could_not_be_reached_for_become_due(
    conn: db.StoreConnection, account: int
) -> None:
    unreachable = queue(conn, account)
    tried(conn, unreachable, REFUSED, unreachable=True)
    busy = queue(conn, account)
    tried(conn, busy, "RCPT TO: 450 4.2.1 Mailbox busy", unreachable=False)
    scheduled = queue(conn, account, scheduled_at=T0 + timedelta(hours=2))
    in_grace = queue(conn, account, not_before=T0 + timedelta(minutes=5))
    failed = queue(conn, account)
    outbox.begin_sending(conn, failed, now=T0)
    outbox.mark_failed(conn, failed, "550 5.1.1 no such user", now=T0)
    other_account = write.ensure_account(conn, "home", None)
    elsewhere = queue(conn, other_account)
    tried(conn, elsewhere, REFUSED, unreachable=True)
    assert get(conn, unreachable).unreachable and not get(conn, busy).unreachable
    assert outbox.due(conn, now=BACK) == []
    before = {i.id: i for i in outbox.items(conn)}

    assert outbox.expedite_unreachable(conn, account, now=BACK) == [unreachable]

    assert [i.id for i in outbox.due(conn, now=BACK)] == [unreachable]
    after = {i.id: i for i in outbox.items(conn)}
    assert after[unreachable].next_attempt == BACK
    assert after[unreachable].state is OutboxState.QUEUED and after[unreachable].attempts == 1
    assert after[unreachable].last_reply == REFUSED
    for untouched in (busy, scheduled, in_grace, failed, elsewhere):
        assert after[untouched] == before[untouched], untouched


def test_nothing_to_expedite_writes_nothing(conn: db.StoreConnection, account: int) -> None:
    item_id = queue(conn, account)
    tried(conn, item_id, REFUSED, unreachable=True)
    assert outbox.expedite_unreachable(conn, account, now=BACK) == [item_id]
    revision = read.revision(conn)
    # Already due: a second request (another sender, the next reconnect) changes nothing.
    assert outbox.expedite_unreachable(conn, account, now=BACK + timedelta(seconds=1)) == []
    assert read.revision(conn) == revision
    assert get(conn, item_id).next_attempt == BACK


def test_the_mark_lasts_only_until_the_next_change_of_state(
    conn: db.StoreConnection, account: int
) -> None:
    item_id = queue(conn, account)
    tried(conn, item_id, REFUSED, unreachable=True)
    outbox.begin_sending(conn, item_id, now=BACK)
    assert not get(conn, item_id).unreachable
    # This time the server answered, with a 4xx: its backoff stands.
    outbox.defer(conn, item_id, "451 4.3.0 try later", retry_at=BACK + timedelta(minutes=2))
    assert not get(conn, item_id).unreachable
    assert outbox.expedite_unreachable(conn, account, now=BACK) == []
    assert get(conn, item_id).next_attempt == BACK + timedelta(minutes=2)


def test_an_item_another_sender_took_is_left_to_it(data_dir: Path, account: int) -> None:
    first = db.open_store(data_dir)
    second = db.open_store(data_dir)
    try:
        item_id = queue(first, account)
        tried(first, item_id, REFUSED, unreachable=True)
        outbox.begin_sending(first, item_id, now=BACK)
        assert outbox.expedite_unreachable(second, account, now=BACK) == []
        item = get(second, item_id)
        assert item.state is OutboxState.SENDING and item.next_attempt == T0 + timedelta(minutes=1)
    finally:
        first.close()
        second.close()


def test_a_version_6_store_keeps_its_queue_with_nothing_marked(tmp_path: Path) -> None:
    """Schema 7 adds outbox.unreachable: what was queued before waits as it did."""
    path = tmp_path / db.DB_FILENAME
    path.parent.mkdir(exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert schema.apply_migrations(conn, target=6) == 6
        conn.execute("INSERT INTO accounts (name, protocol, created) VALUES ('old', NULL, 0)")
        conn.execute(
            "INSERT INTO outbox (account_id, message_id, raw, env_from, env_rcpts, state,"
            " attempts, next_attempt, created, updated, revision)"
            " VALUES (1, 'm@x', x'41', 'a@x', '[\"b@x\"]', 'queued', 1, ?, 0, 0, 0)",
            (BACK.timestamp() + 60,),
        )
    finally:
        conn.close()
    store = db.connect(path)
    try:
        assert schema.user_version(store) == schema.SCHEMA_VERSION
        [item] = outbox.items(store)
        assert item.message_id == "m@x" and not item.unreachable
        assert outbox.expedite_unreachable(store, item.account_id, now=BACK) == []
    finally:
        store.close()
