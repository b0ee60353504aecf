"""The outbox: composed messages and the state machine that sends each exactly once.

    queued ──begin_sending──▶ sending ──mark_sent──▶ sent
      ▲                        │ ├──mark_failed──▶ failed   (permanent: 5xx)
      │                        │ ├──mark_unknown─▶ unknown  (no reply after the final ".")
      └───────defer (4xx) ─────┘ │
      ▲                          │
      └──── retry (the user) ◀── failed | unknown ──confirm_sent──▶ sent

Every transition is one committed transaction that also appends to the item's history (with
the server's reply), and a transition from the wrong state raises IllegalTransition. The
Message-ID is fixed when a message is queued, so a retry (and the Sent copy) can find it.

A large message never has to be in memory whole: `enqueue` takes a `MessageSource` (its size and
its bytes in chunks) and writes it into the row through SQLite's incremental blob I/O, and
`raw_chunks` reads it back the same way. (Any UPDATE of an outbox row still makes SQLite copy the
row, the message included, twice in memory for a moment: the raw column is not the row's last.)

An item deferred because the server could not be reached (`defer(..., unreachable=True)`) is
due at once when it answers again (`expedite_unreachable`); other waits keep their time.

A sender that dies leaves its item in 'sending'. `recover_interrupted`, run by the next sender
while it holds the account's lock, puts it back in the queue, unless `mark_data_end` had been
committed (the final "." may have reached the server): then it becomes 'unknown' and the user
decides; nothing is resent silently.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tuimail.store import codec
from tuimail.store.db import StoreError, transaction


class OutboxState(enum.StrEnum):
    """Where an outgoing message stands."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


# The legal transitions: to_state ← from_states.
_FROM: dict[OutboxState, frozenset[OutboxState]] = {
    OutboxState.SENDING: frozenset({OutboxState.QUEUED}),
    OutboxState.SENT: frozenset({OutboxState.SENDING, OutboxState.UNKNOWN}),
    OutboxState.FAILED: frozenset({OutboxState.SENDING}),
    OutboxState.UNKNOWN: frozenset({OutboxState.SENDING}),
    OutboxState.QUEUED: frozenset({OutboxState.SENDING, OutboxState.FAILED, OutboxState.UNKNOWN}),
}
_CANCELLABLE = frozenset({OutboxState.QUEUED, OutboxState.FAILED, OutboxState.UNKNOWN})


# Bytes read from a stored message at a time.
RAW_CHUNK = 1 << 20
_SYNCHRONOUS_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


class MessageSource(Protocol):
    """A message that is written into the outbox a chunk at a time (`compose.ComposedMessage`):
    `size` is its exact length, `chunks()` yields its bytes in order."""

    @property
    def size(self) -> int:
        """The exact length in bytes."""
        ...

    def chunks(self) -> Iterable[bytes]:
        """The bytes, in order."""
        ...


class ItemGone(StoreError):
    """The outbox item does not exist (any more: cancelled, or taken back as a draft)."""


class IllegalTransition(StoreError):
    """An outbox item was asked to change state in a way the state machine does not allow."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An outbox entry without its bytes (`raw_message` reads those)."""

    id: int
    account_id: int
    message_id: str
    env_from: str
    env_rcpts: tuple[str, ...]
    state: OutboxState
    attempts: int
    next_attempt: datetime
    scheduled_at: datetime | None
    data_end_at: datetime | None
    last_reply: str | None
    sent_copy_done: bool
    created: datetime
    updated: datetime
    revision: int
    # Waiting only because the last try could not reach the server (see `expedite_unreachable`).
    unreachable: bool = False


def enqueue(
    conn: sqlite3.Connection,
    account_id: int,
    raw: bytes | MessageSource,
    *,
    message_id: str,
    env_from: str,
    env_rcpts: Iterable[str],
    not_before: datetime | None = None,
    scheduled_at: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Queue a composed message; returns the outbox id. Commits before any network activity.

    `env_rcpts` includes Bcc. The message waits until `not_before` (the undo-send grace period)
    or `scheduled_at` (send later), whichever is later. `raw` is the message's bytes, or a
    `MessageSource` streamed into the row (whatever its chunks raise rolls the item back).
    """
    recipients = list(dict.fromkeys(env_rcpts))
    if not recipients:
        raise ValueError("a message needs at least one envelope recipient")
    if not message_id:
        raise ValueError("a queued message needs its Message-ID")
    stamp = codec.now_epoch(now)
    due = max(
        stamp,
        codec.epoch(not_before) or stamp,
        codec.epoch(scheduled_at) or stamp,
    )
    # A streamed message gets room of its size (zeroblob), then its bytes through the blob.
    streamed = None if isinstance(raw, bytes) else raw
    raw_value = "?" if streamed is None else "zeroblob(?)"
    with transaction(conn) as revision:
        item_id = int(
            conn.execute(
                "INSERT INTO outbox (account_id, message_id, raw, env_from, env_rcpts, state,"  # noqa: S608
                " next_attempt, scheduled_at, created, updated, revision)"
                f" VALUES (?, ?, {raw_value}, ?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING id",
                (
                    account_id,
                    message_id,
                    raw if streamed is None else streamed.size,
                    env_from,
                    json.dumps(recipients, ensure_ascii=False),
                    due,
                    codec.epoch(scheduled_at),
                    stamp,
                    stamp,
                    revision,
                ),
            ).fetchall()[0][0]
        )
        if streamed is not None:
            _write_blob(conn, item_id, streamed)
        _history(conn, item_id, stamp, None, OutboxState.QUEUED, None, None)
        return item_id


def _write_blob(conn: sqlite3.Connection, item_id: int, source: MessageSource) -> None:
    size = source.size
    with conn.blobopen("outbox", "raw", item_id) as blob:
        written = 0
        for chunk in source.chunks():
            if written + len(chunk) > size:
                raise StoreError("the message grew while it was written into the outbox")
            blob.write(chunk)
            written += len(chunk)
    if written != size:
        raise StoreError("the message shrank while it was written into the outbox")


def enqueue_copy(
    conn: sqlite3.Connection,
    item_id: int,
    *,
    env_rcpts: Iterable[str],
    not_before: datetime,
    reply: str | None = None,
    now: datetime | None = None,
) -> int:
    """Queue the message of `item_id` again, with its Message-ID, for other envelope recipients
    (those a server refused for now); the bytes are copied inside the store. Returns the new id.

    The copy keeps the original's attempt count (its recipients were tried as often) and gets
    `reply`, the server's temporary refusal, as its last reply: it waits for a retry, not for
    an undo-send grace period.
    """
    recipients = list(dict.fromkeys(env_rcpts))
    if not recipients:
        raise ValueError("a message needs at least one envelope recipient")
    stamp = codec.now_epoch(now)
    with transaction(conn) as revision:
        found = conn.execute(
            "INSERT INTO outbox (account_id, message_id, raw, env_from, env_rcpts, state,"
            " attempts, next_attempt, last_reply, created, updated, revision)"
            " SELECT account_id, message_id, raw, env_from, ?, 'queued', attempts, ?, ?, ?, ?, ?"
            " FROM outbox WHERE id = ? RETURNING id",
            (
                json.dumps(recipients, ensure_ascii=False),
                max(stamp, codec.epoch(not_before) or stamp),
                reply,
                stamp,
                stamp,
                revision,
                item_id,
            ),
        ).fetchall()
        if not found:
            raise ItemGone(f"outbox item {item_id} does not exist")
        new_id = int(found[0][0])
        _history(conn, new_id, stamp, None, OutboxState.QUEUED, reply, None)
        return new_id


def begin_sending(
    conn: sqlite3.Connection, item_id: int, *, now: datetime | None = None
) -> OutboxItem:
    """queued → sending: the sender takes the item (counts an attempt)."""
    _transition(
        conn,
        item_id,
        OutboxState.SENDING,
        now=now,
        extra={"attempts": "attempts + 1", "data_end_at": "NULL"},
    )
    return _require(conn, item_id)


def mark_data_end(conn: sqlite3.Connection, item_id: int, *, now: datetime | None = None) -> None:
    """Record, while sending, that the final "." of DATA goes out next: from here on a lost
    reply means 'unknown', never a resend. Always a durable commit (synchronous=FULL), even on
    a connection that commits the other steps with NORMAL (see `durable`).
    """
    stamp = codec.now_epoch(now)
    with durable(conn), transaction(conn) as revision:
        updated = conn.execute(
            "UPDATE outbox SET data_end_at = ?, updated = ?, revision = ?"
            " WHERE id = ? AND state = 'sending'",
            (stamp, stamp, revision, item_id),
        ).rowcount
        if not updated:
            _refuse(conn, item_id, "record the end of DATA")


def mark_sent(
    conn: sqlite3.Connection,
    item_id: int,
    reply: str,
    *,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    sent_copy_done: bool = False,
) -> None:
    """sending → sent, with the server's reply (and per-recipient replies in `details`).
    `sent_copy_done` records at once that the Sent copy exists or is not wanted: one UPDATE
    of the row instead of two (each copies a large message in SQLite's memory)."""
    _transition(
        conn,
        item_id,
        OutboxState.SENT,
        reply,
        details,
        now=now,
        only_from={OutboxState.SENDING},
        extra={"sent_copy_done": "1"} if sent_copy_done else None,
    )


def confirm_sent(
    conn: sqlite3.Connection, item_id: int, note: str, *, now: datetime | None = None
) -> None:
    """unknown → sent: the user checked that the message arrived."""
    _transition(conn, item_id, OutboxState.SENT, note, now=now, only_from={OutboxState.UNKNOWN})


def mark_failed(
    conn: sqlite3.Connection,
    item_id: int,
    reply: str,
    *,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """sending → failed: a permanent refusal (5xx), with the server's reply."""
    _transition(conn, item_id, OutboxState.FAILED, reply, details, now=now)


def mark_unknown(
    conn: sqlite3.Connection, item_id: int, reason: str, *, now: datetime | None = None
) -> None:
    """sending → unknown: the final "." went out and no reply came; the user decides."""
    _transition(conn, item_id, OutboxState.UNKNOWN, reason, now=now)


def defer(
    conn: sqlite3.Connection,
    item_id: int,
    reply: str,
    *,
    retry_at: datetime,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    unreachable: bool = False,
) -> None:
    """sending → queued: a temporary refusal (4xx), a connection lost before the final ".", or
    no connection at all; try again at `retry_at`. `unreachable`: the server could not be
    reached (refused, timed out, no name, no network), so `expedite_unreachable` may bring the
    retry forward when it answers again.
    """
    _transition(
        conn,
        item_id,
        OutboxState.QUEUED,
        reply,
        details,
        now=now,
        next_attempt=codec.epoch(retry_at),
        only_from={OutboxState.SENDING},
        unreachable=unreachable,
    )


def expedite_unreachable(
    conn: sqlite3.Connection, account_id: int, *, now: datetime | None = None
) -> list[int]:
    """The server answers again: the account's queued items that wait only because it could not
    be reached are due now (their backoff is cut short). Items deferred by a server's reply,
    scheduled for later or in their undo-send grace period keep their time, and nothing but a
    queued item's due time changes. Returns the ids made due, oldest first.

    One conditional UPDATE: safe beside another sender (an item it took is no longer queued),
    and a second call changes nothing.
    """
    stamp = codec.now_epoch(now)
    # Asked first too: with nothing to do, no write transaction (each one wakes the UI).
    waiting = (
        " WHERE account_id = ? AND state = 'queued' AND unreachable = 1 AND next_attempt > ?"
        " AND (scheduled_at IS NULL OR scheduled_at <= ?)"
    )
    params = (account_id, stamp, stamp)
    if conn.execute(f"SELECT 1 FROM outbox{waiting} LIMIT 1", params).fetchone() is None:  # noqa: S608
        return []
    with transaction(conn) as revision:
        found = conn.execute(
            f"UPDATE outbox SET next_attempt = ?, updated = ?, revision = ?{waiting}"  # noqa: S608
            " RETURNING id",
            (stamp, stamp, revision, *params),
        ).fetchall()
    return sorted(int(row[0]) for row in found)


def retry(
    conn: sqlite3.Connection,
    item_id: int,
    *,
    at: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """failed | unknown → queued: the user asks to send again (at `at`, default now)."""
    stamp = codec.now_epoch(now)
    _transition(
        conn,
        item_id,
        OutboxState.QUEUED,
        "retry requested",
        now=now,
        next_attempt=codec.epoch(at) or stamp,
        only_from={OutboxState.FAILED, OutboxState.UNKNOWN},
    )


def cancel(conn: sqlite3.Connection, item_id: int, *, want_bytes: bool = True) -> bytes:
    """Take a message out of the outbox (the user gives up; undo send is `drafts.take_back`,
    which keeps it as a draft in the same transaction); returns its bytes (b"" when not
    `want_bytes`). A message being sent or already sent cannot be cancelled.
    """
    raw_column = "raw" if want_bytes else "NULL"
    with transaction(conn):
        found = conn.execute(
            f"SELECT state, {raw_column} FROM outbox WHERE id = ?",  # noqa: S608
            (item_id,),
        ).fetchone()
        if found is None:
            raise ItemGone(f"outbox item {item_id} does not exist")
        if OutboxState(found[0]) not in _CANCELLABLE:
            raise IllegalTransition(f"outbox item {item_id} is {found[0]}; it cannot be cancelled")
        conn.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
        return b"" if found[1] is None else bytes(found[1])


def mark_sent_copies_done(conn: sqlite3.Connection, item_ids: Iterable[int]) -> None:
    """`mark_sent_copy_done` for many sent items, in one statement."""
    wanted = list(dict.fromkeys(item_ids))
    if not wanted:
        return
    with transaction(conn) as revision:
        updated = conn.execute(
            "UPDATE outbox SET sent_copy_done = 1, revision = ?"  # noqa: S608
            f" WHERE state = 'sent' AND id IN ({','.join('?' * len(wanted))})",
            (revision, *wanted),
        ).rowcount
        if updated != len(wanted):
            raise IllegalTransition(
                "some of these outbox items are not sent; no Sent copy recorded"
            )


@contextmanager
def durable(conn: sqlite3.Connection) -> Iterator[None]:
    """Commits in this block are synchronous=FULL (fsync'ed before they return), whatever the
    connection's setting.

    A sender may run its connection with synchronous=NORMAL: in WAL mode such a commit survives
    a crash of the program (it is written to the WAL) but not a power loss. That is safe for
    every outbox step but one: a lost `begin_sending` or `mark_sent` leaves an item that is
    sent again (its final "." never went out) or becomes 'unknown' (it did); nothing is lost or
    sent twice. The end of DATA must be on disk before the final ".", so it is made durable
    here; this also makes every earlier commit durable (the WAL is synced up to it).
    """
    (level,) = conn.execute("PRAGMA synchronous").fetchone()
    if int(level) >= _SYNCHRONOUS_FULL or conn.in_transaction:
        yield  # already FULL, or the commit is the caller's (and its setting decides)
        return
    conn.execute("PRAGMA synchronous = FULL")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA synchronous = {int(level):d}")


def mark_sent_copy_done(conn: sqlite3.Connection, item_id: int) -> None:
    """The copy in the Sent folder exists (or is not wanted) for a sent item."""
    with transaction(conn) as revision:
        updated = conn.execute(
            "UPDATE outbox SET sent_copy_done = 1, revision = ? WHERE id = ? AND state = 'sent'",
            (revision, item_id),
        ).rowcount
        if not updated:
            _refuse(conn, item_id, "record its Sent copy")


def recover_interrupted(
    conn: sqlite3.Connection, *, account_id: int | None = None, now: datetime | None = None
) -> tuple[list[int], list[int]]:
    """Settle items a dead sender left in 'sending'; returns (requeued ids, unknown ids).

    Call it only while holding the account's sync lock (no other sender is running).
    """
    stamp = codec.now_epoch(now)
    requeued: list[int] = []
    unknown: list[int] = []
    with transaction(conn):
        scope, params = (
            ("AND account_id = ?", (account_id,)) if account_id is not None else ("", ())
        )
        for item_id, data_end_at in conn.execute(
            f"SELECT id, data_end_at FROM outbox WHERE state = 'sending' {scope}"  # noqa: S608
            " ORDER BY id",
            params,
        ).fetchall():
            if data_end_at is None:
                _transition(
                    conn,
                    item_id,
                    OutboxState.QUEUED,
                    "the sender stopped before the message was complete; it will be sent again",
                    now=now,
                    next_attempt=stamp,
                )
                requeued.append(int(item_id))
            else:
                _transition(
                    conn,
                    item_id,
                    OutboxState.UNKNOWN,
                    "the sender stopped after the message was handed over, before the server"
                    " confirmed it; check whether it arrived before sending it again",
                    now=now,
                )
                unknown.append(int(item_id))
    return requeued, unknown


def get(conn: sqlite3.Connection, item_id: int) -> OutboxItem | None:
    """One outbox item."""
    found = conn.execute(f"SELECT {ITEM_COLUMNS} FROM outbox WHERE id = ?", (item_id,)).fetchone()  # noqa: S608
    return None if found is None else item_from_row(found)


def raw_message(conn: sqlite3.Connection, item_id: int) -> bytes:
    """The exact bytes to send."""
    found = conn.execute("SELECT raw FROM outbox WHERE id = ?", (item_id,)).fetchone()
    if found is None:
        raise ItemGone(f"outbox item {item_id} does not exist")
    return bytes(found[0])


def raw_size(conn: sqlite3.Connection, item_id: int) -> int:
    """The length of the message's bytes (without reading them)."""
    found = conn.execute("SELECT length(raw) FROM outbox WHERE id = ?", (item_id,)).fetchone()
    if found is None:
        raise ItemGone(f"outbox item {item_id} does not exist")
    return int(found[0])


def raw_chunks(
    conn: sqlite3.Connection, item_id: int, *, start: int = 0, chunk_size: int = RAW_CHUNK
) -> Generator[bytes, None, None]:
    """The message's bytes from offset `start`, `chunk_size` at a time, read from the row as
    they are asked for. Finish (or close) the iterator before the item changes state: SQLite
    ends the read when the row is updated."""
    try:
        blob = conn.blobopen("outbox", "raw", item_id, readonly=True)
    except sqlite3.OperationalError as exc:  # no such row
        raise ItemGone(f"outbox item {item_id} does not exist") from exc
    with blob:
        blob.seek(start)
        while chunk := blob.read(chunk_size):
            yield chunk


def raw_head(conn: sqlite3.Connection, item_id: int, *, limit: int = 65_536) -> bytes:
    """The start of the message, at most `limit` bytes: enough for its header as a rule."""
    return next(raw_chunks(conn, item_id, chunk_size=limit), b"")


def items(
    conn: sqlite3.Connection,
    *,
    account_id: int | None = None,
    states: Iterable[OutboxState] | None = None,
) -> list[OutboxItem]:
    """Outbox items, oldest first, optionally of one account and in some states."""
    where: list[str] = []
    params: list[object] = []
    if account_id is not None:
        where.append("account_id = ?")
        params.append(account_id)
    if states is not None:
        wanted = [OutboxState(s).value for s in states]
        if not wanted:
            return []
        where.append(f"state IN ({','.join('?' * len(wanted))})")
        params.extend(wanted)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return [
        item_from_row(r)
        for r in conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM outbox {clause} ORDER BY id",  # noqa: S608
            params,
        )
    ]


def due(
    conn: sqlite3.Connection, *, now: datetime | None = None, account_id: int | None = None
) -> list[OutboxItem]:
    """Queued items whose time has come, oldest first."""
    params: list[object] = [codec.now_epoch(now)]
    scope = ""
    if account_id is not None:
        scope = " AND account_id = ?"
        params.append(account_id)
    return [
        item_from_row(r)
        for r in conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM outbox WHERE state = 'queued' AND next_attempt <= ?"  # noqa: S608
            f"{scope} ORDER BY id",
            params,
        )
    ]


# The columns `item_from_row` reads, in its order.
ITEM_COLUMNS = (
    "id, account_id, message_id, env_from, env_rcpts, state, attempts, next_attempt,"
    " scheduled_at, data_end_at, last_reply, sent_copy_done, created, updated, revision,"
    " unreachable"
)


def item_from_row(r: tuple[Any, ...]) -> OutboxItem:
    """The item in a row of `ITEM_COLUMNS`."""
    return OutboxItem(
        id=int(r[0]),
        account_id=int(r[1]),
        message_id=r[2],
        env_from=r[3],
        env_rcpts=tuple(json.loads(r[4])),
        state=OutboxState(r[5]),
        attempts=int(r[6]),
        next_attempt=codec.to_datetime(r[7]),
        scheduled_at=codec.from_epoch(r[8]),
        data_end_at=codec.from_epoch(r[9]),
        last_reply=r[10],
        sent_copy_done=bool(r[11]),
        created=codec.to_datetime(r[12]),
        updated=codec.to_datetime(r[13]),
        revision=int(r[14]),
        unreachable=bool(r[15]),
    )


def _require(conn: sqlite3.Connection, item_id: int) -> OutboxItem:
    found = get(conn, item_id)
    if found is None:
        raise ItemGone(f"outbox item {item_id} does not exist")
    return found


def _refuse(conn: sqlite3.Connection, item_id: int, action: str) -> None:
    found = conn.execute("SELECT state FROM outbox WHERE id = ?", (item_id,)).fetchone()
    if found is None:
        raise ItemGone(f"outbox item {item_id} does not exist")
    raise IllegalTransition(f"outbox item {item_id} is {found[0]}; it cannot {action}")


def _transition(
    conn: sqlite3.Connection,
    item_id: int,
    to_state: OutboxState,
    reply: str | None = None,
    details: Mapping[str, Any] | None = None,
    *,
    now: datetime | None,
    next_attempt: float | None = None,
    only_from: Iterable[OutboxState] | None = None,
    extra: Mapping[str, str] | None = None,
    unreachable: bool = False,
) -> None:
    """Move an item to `to_state` if its current state allows it, and record the change.
    `unreachable` is set anew by every change (see `defer`)."""
    allowed = _FROM[to_state] if only_from is None else _FROM[to_state] & set(only_from)
    stamp = codec.now_epoch(now)
    with transaction(conn) as revision:
        found = conn.execute("SELECT state FROM outbox WHERE id = ?", (item_id,)).fetchone()
        if found is None:
            raise ItemGone(f"outbox item {item_id} does not exist")
        from_state = OutboxState(found[0])
        if from_state not in allowed:
            raise IllegalTransition(
                f"outbox item {item_id} is {from_state.value}; it cannot become {to_state.value}"
            )
        # extra holds fixed SQL expressions from this module, never caller text.
        assignments = "".join(
            f", {column} = {expression}" for column, expression in (extra or {}).items()
        )
        conn.execute(
            "UPDATE outbox SET state = ?, updated = ?, revision = ?,"  # noqa: S608
            " last_reply = coalesce(?, last_reply),"
            f" next_attempt = coalesce(?, next_attempt), unreachable = ?{assignments}"
            " WHERE id = ?",
            (to_state.value, stamp, revision, reply, next_attempt, int(unreachable), item_id),
        )
        _history(conn, item_id, stamp, from_state, to_state, reply, details)


def _history(
    conn: sqlite3.Connection,
    item_id: int,
    stamp: float,
    from_state: OutboxState | None,
    to_state: OutboxState,
    reply: str | None,
    details: Mapping[str, Any] | None,
) -> None:
    conn.execute(
        "INSERT INTO outbox_history (outbox_id, at, from_state, to_state, reply, details)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            item_id,
            stamp,
            None if from_state is None else from_state.value,
            to_state.value,
            reply,
            None if details is None else json.dumps(dict(details), ensure_ascii=False),
        ),
    )
