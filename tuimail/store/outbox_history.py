"""What happened to an outbox item: every state change, with the server's reply (outbox.py
appends an entry in the transaction of each change)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tuimail.store import codec, outbox


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One state change of an outbox item."""

    at: datetime
    from_state: outbox.OutboxState | None
    to_state: outbox.OutboxState
    reply: str | None
    details: Any


def history(conn: sqlite3.Connection, item_id: int) -> list[HistoryEntry]:
    """Every state change of an item, oldest first, with the replies."""
    return [
        HistoryEntry(
            at=codec.to_datetime(r[0]),
            from_state=None if r[1] is None else outbox.OutboxState(r[1]),
            to_state=outbox.OutboxState(r[2]),
            reply=r[3],
            details=None if r[4] is None else json.loads(r[4]),
        )
        for r in conn.execute(
            "SELECT at, from_state, to_state, reply, details FROM outbox_history"
            " WHERE outbox_id = ? ORDER BY id",
            (item_id,),
        )
    ]
