"""Reads over the messages the user marked in the list to act on them together: which of them
are still where the list shows them (marks follow messages, not lines, and are dropped for the
ones that left), and the unread messages of folders, for marking a whole folder read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def present(
    conn: sqlite3.Connection, message_ids: Sequence[int], folder_ids: Sequence[int] | None
) -> set[int]:
    """The ids of `message_ids` still in the store, and in `folder_ids` when given."""
    found: set[int] = set()
    ids = list(dict.fromkeys(message_ids))
    folders = list(folder_ids) if folder_ids is not None else None
    if folders == []:
        return found
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        sql = f"SELECT id FROM messages WHERE id IN ({','.join('?' * len(chunk))})"  # noqa: S608
        params: list[int] = list(chunk)
        if folders is not None:
            sql += f" AND folder_id IN ({','.join('?' * len(folders))})"
            params.extend(folders)
        found.update(int(r[0]) for r in conn.execute(sql, params))
    return found


def unread_ids(conn: sqlite3.Connection, folder_ids: Sequence[int]) -> list[int]:
    """The ids of the unread messages of some folders, newest first."""
    folders = list(folder_ids)
    if not folders:
        return []
    sql = (
        "SELECT id FROM messages WHERE seen = 0"  # noqa: S608 - placeholders only
        f" AND folder_id IN ({','.join('?' * len(folders))}) ORDER BY sort_date DESC, id DESC"
    )
    return [int(r[0]) for r in conn.execute(sql, folders)]
