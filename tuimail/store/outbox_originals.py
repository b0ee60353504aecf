"""The stored message an outbox item replies to or forwards: once the item is sent, that message
gets its flag (\\Answered or $Forwarded) as a user action the IMAP replay carries to the server."""

from __future__ import annotations

import sqlite3

from tuimail.store import ops
from tuimail.store.db import transaction


def set_original(conn: sqlite3.Connection, item_id: int, message_id: int, flag: str) -> None:
    """Item `item_id` replies to or forwards stored message `message_id`: once it is recorded
    sent, `flag` (\\Answered or $Forwarded) is set on that message (`flag_original`)."""
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO outbox_originals (outbox_id, message_id, flag)"
            " SELECT ?, id, ? FROM messages WHERE id = ?",
            (item_id, flag, message_id),
        )


def original(conn: sqlite3.Connection, item_id: int) -> tuple[int, str] | None:
    """(stored message id, flag) that sending item `item_id` sets, if any."""
    found = conn.execute(
        "SELECT message_id, flag FROM outbox_originals WHERE outbox_id = ?", (item_id,)
    ).fetchone()
    return None if found is None else (int(found[0]), str(found[1]))


def flag_original(conn: sqlite3.Connection, item_id: int) -> int | None:
    """Set the flag of the message item `item_id` answers or forwards, as a user action (an op
    that the IMAP replay carries to the server); call it in the transaction that records the
    item sent. Returns the original's account id (None: no original, or it is gone)."""
    found = original(conn, item_id)
    if found is None:
        return None
    message_id, flag = found
    row = conn.execute("SELECT account_id FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        return None
    with transaction(conn):
        ops.enqueue(conn, ops.OpKind.FLAG, [message_id], flag=flag)
    return int(row[0])
