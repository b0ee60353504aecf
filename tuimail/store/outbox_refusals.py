"""The recipients a server refused for good when an outbox item was sent: kept beside the sent
item, and shown in the outbox, until the user dismisses them."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from tuimail.store import outbox
from tuimail.store.db import transaction


def record_refusals(conn: sqlite3.Connection, item_id: int, refused: Mapping[str, str]) -> None:
    """Keep the recipients a server refused for good (recipient -> reply) beside the sent item,
    until the user dismisses them."""
    with transaction(conn):
        conn.executemany(
            "INSERT OR REPLACE INTO outbox_refusals (outbox_id, recipient, reply) VALUES (?, ?, ?)",
            [(item_id, recipient, reply) for recipient, reply in refused.items()],
        )


def refusals(conn: sqlite3.Connection, item_id: int) -> dict[str, str]:
    """The refused recipients of an item not dismissed yet: recipient -> the server's reply."""
    return {
        str(r[0]): str(r[1])
        for r in conn.execute(
            "SELECT recipient, reply FROM outbox_refusals WHERE outbox_id = ? ORDER BY rowid",
            (item_id,),
        )
    }


def with_refusals(conn: sqlite3.Connection) -> list[outbox.OutboxItem]:
    """Sent items with refused recipients that the user has not dismissed, oldest first."""
    return [
        outbox.item_from_row(r)
        for r in conn.execute(
            f"SELECT {outbox.ITEM_COLUMNS} FROM outbox WHERE state = 'sent' AND id IN"  # noqa: S608
            " (SELECT outbox_id FROM outbox_refusals) ORDER BY id"
        )
    ]


def dismiss_refusals(conn: sqlite3.Connection, item_id: int) -> None:
    """The user has seen whom item `item_id` did not reach: stop showing it."""
    with transaction(conn):
        conn.execute("DELETE FROM outbox_refusals WHERE outbox_id = ?", (item_id,))
