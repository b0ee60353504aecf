"""The stored messages an outbox item replies to or forwards (a forward of several marked
messages has one for each): once the item is sent, each gets its flag (\\Answered or
$Forwarded) as a user action the IMAP replay carries to the server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from tuimail.store import ops
from tuimail.store.db import transaction


def set_originals(
    conn: sqlite3.Connection, item_id: int, originals: Iterable[tuple[int, str]]
) -> None:
    """Item `item_id` replies to or forwards the stored messages of `originals`, each given as
    (message id, flag): once it is recorded sent, each flag (\\Answered or $Forwarded) is set
    on its message (`flag_originals`). Messages no longer stored are left out."""
    with transaction(conn):
        for message_id, flag in originals:
            conn.execute(
                "INSERT OR REPLACE INTO outbox_originals (outbox_id, message_id, flag)"
                " SELECT ?, id, ? FROM messages WHERE id = ?",
                (item_id, flag, message_id),
            )


def originals(conn: sqlite3.Connection, item_id: int) -> tuple[tuple[int, str], ...]:
    """The (stored message id, flag) pairs that sending item `item_id` sets, in the order
    recorded (empty: none, or every one is gone)."""
    return tuple(
        (int(message_id), str(flag))
        for message_id, flag in conn.execute(
            "SELECT message_id, flag FROM outbox_originals WHERE outbox_id = ? ORDER BY rowid",
            (item_id,),
        )
    )


def flag_originals(conn: sqlite3.Connection, item_id: int) -> set[int]:
    """Set the flag of every message item `item_id` answers or forwards, as a user action (ops
    that the IMAP replay carries to the server); call it in the transaction that records the
    item sent. Returns the accounts of the originals flagged (empty: none, or all gone)."""
    by_flag: dict[str, list[int]] = {}
    for message_id, flag in originals(conn, item_id):
        by_flag.setdefault(flag, []).append(message_id)
    if not by_flag:
        return set()
    ids = [message_id for group in by_flag.values() for message_id in group]
    accounts = {
        int(account_id)
        for (account_id,) in conn.execute(
            "SELECT DISTINCT account_id FROM messages"  # noqa: S608 - placeholders only
            f" WHERE id IN ({','.join('?' * len(ids))})",
            ids,
        )
    }
    with transaction(conn):
        for flag, message_ids in by_flag.items():
            # One op per source folder of the messages (ops.enqueue): one STORE each.
            ops.enqueue(conn, ops.OpKind.FLAG, message_ids, flag=flag)
    return accounts
