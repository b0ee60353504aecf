"""The outbox with messages written and read a chunk at a time (incremental blob I/O)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tuimail.store import db, outbox, outbox_history, write
from tuimail.store.db import StoreError
from tuimail.store.outbox import OutboxState

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
HEAD = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\n\r\n"


class Source:
    """A MessageSource: `size` bytes in `pieces` chunks, optionally lying about its size."""

    def __init__(self, data: bytes, pieces: int, *, size: int | None = None) -> None:
        self.data = data
        self.pieces = pieces
        self.size = len(data) if size is None else size

    def chunks(self) -> Iterator[bytes]:
        step = max(1, -(-len(self.data) // self.pieces))
        for start in range(0, len(self.data), step):
            yield self.data[start : start + step]


@pytest.fixture
def account(conn: db.StoreConnection) -> int:
    return write.ensure_account(conn, "work", None)


def enqueue(conn: db.StoreConnection, account: int, source: object) -> int:
    return outbox.enqueue(
        conn,
        account,
        source,  # type: ignore[arg-type]
        message_id="m1@example.org",
        env_from="a@example.org",
        env_rcpts=["b@example.org"],
        now=T0,
    )


def test_a_streamed_message_is_stored_and_read_back_in_chunks(
    conn: db.StoreConnection, account: int
) -> None:
    data = HEAD + os.urandom(300_000)
    item_id = enqueue(conn, account, Source(data, 7))
    assert outbox.raw_message(conn, item_id) == data
    assert outbox.raw_size(conn, item_id) == len(data)
    assert outbox.raw_head(conn, item_id, limit=len(HEAD)) == HEAD
    chunks = list(outbox.raw_chunks(conn, item_id, chunk_size=65_536))
    assert [len(c) for c in chunks[:-1]] == [65_536] * (len(chunks) - 1)
    assert b"".join(chunks) == data
    assert b"".join(outbox.raw_chunks(conn, item_id, start=1000)) == data[1000:]
    assert outbox.get(conn, item_id).state is OutboxState.QUEUED  # type: ignore[union-attr]


@pytest.mark.parametrize("claimed", [10, 10_000])
def test_a_source_that_does_not_match_its_size_queues_nothing(
    conn: db.StoreConnection, account: int, claimed: int
) -> None:
    with pytest.raises(StoreError, match="while it was written"):
        enqueue(conn, account, Source(HEAD + b"x" * 1000, 3, size=claimed))
    assert outbox.items(conn) == []


def test_a_failing_source_rolls_the_item_back(conn: db.StoreConnection, account: int) -> None:
    class Broken(Source):
        def chunks(self) -> Iterator[bytes]:
            yield HEAD
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        enqueue(conn, account, Broken(HEAD * 3, 1))
    assert outbox.items(conn) == []


def test_reading_a_missing_item_is_a_store_error(conn: db.StoreConnection) -> None:
    with pytest.raises(StoreError):
        list(outbox.raw_chunks(conn, 99))
    with pytest.raises(StoreError):
        outbox.raw_size(conn, 99)


def test_enqueue_copy_requeues_the_same_bytes_for_other_recipients(
    conn: db.StoreConnection, account: int
) -> None:
    data = HEAD + b"body\r\n"
    first = enqueue(conn, account, Source(data, 2))
    later = T0 + timedelta(minutes=5)
    second = outbox.enqueue_copy(conn, first, env_rcpts=["c@example.org"], not_before=later, now=T0)
    copy = outbox.get(conn, second)
    assert copy is not None and copy.state is OutboxState.QUEUED
    assert copy.message_id == "m1@example.org" and copy.env_rcpts == ("c@example.org",)
    assert copy.next_attempt == later
    assert outbox.raw_message(conn, second) == data
    assert [h.to_state for h in outbox_history.history(conn, second)] == [OutboxState.QUEUED]
    with pytest.raises(StoreError):
        outbox.enqueue_copy(conn, 99, env_rcpts=["c@example.org"], not_before=later)


def test_mark_sent_can_record_the_sent_copy_at_once(conn: db.StoreConnection, account: int) -> None:
    item_id = enqueue(conn, account, Source(HEAD, 1))
    outbox.begin_sending(conn, item_id, now=T0)
    outbox.mark_sent(conn, item_id, "250 ok", now=T0, sent_copy_done=True)
    item = outbox.get(conn, item_id)
    assert item is not None and item.state is OutboxState.SENT and item.sent_copy_done


def test_the_end_of_data_is_committed_durably_on_a_normal_connection(
    conn: db.StoreConnection, account: int
) -> None:
    item_id = enqueue(conn, account, Source(HEAD, 1))
    conn.execute("PRAGMA synchronous = NORMAL")
    outbox.begin_sending(conn, item_id, now=T0)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        outbox.mark_data_end(conn, item_id, now=T0)
    finally:
        conn.set_trace_callback(None)
    # FULL is set before the write transaction begins and NORMAL comes back after its COMMIT.
    full = statements.index("PRAGMA synchronous = FULL")
    commit = next(i for i, s in enumerate(statements) if s.upper().startswith("COMMIT"))
    assert full < commit < statements.index("PRAGMA synchronous = 1")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    item = outbox.get(conn, item_id)
    assert item is not None and item.data_end_at is not None


def test_sent_copies_are_recorded_together_and_only_for_sent_items(
    conn: db.StoreConnection, account: int
) -> None:
    ids = [enqueue(conn, account, Source(HEAD, 1)) for _ in range(3)]
    for item_id in ids[:2]:
        outbox.begin_sending(conn, item_id, now=T0)
        outbox.mark_sent(conn, item_id, "250 ok", now=T0)
    with pytest.raises(outbox.IllegalTransition):
        outbox.mark_sent_copies_done(conn, ids)  # the third is still queued: nothing changes
    assert not any(i.sent_copy_done for i in outbox.items(conn))
    outbox.mark_sent_copies_done(conn, ids[:2])
    assert [i.sent_copy_done for i in outbox.items(conn)] == [True, True, False]
