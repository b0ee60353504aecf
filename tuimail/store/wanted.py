"""Which message bodies to download ahead for offline reading: the query behind an IMAP
account's body policy (`config.schema.BodyPolicy`), newest first across the account's folders,
and which of a few messages about to be opened still lack what opening them fetches.

The partial index `messages_without_body` (schema 6) holds only the messages whose body is not
local, by account and date: asking when nothing is wanted reads no row, and a slice of the
newest wanted bodies is read in index order, with no sort, however large the account.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass

# SQLite allows more host parameters; an account has far fewer folders than this.
_MAX_FOLDERS = 500
_CHUNK = 500  # ids per statement


@dataclass(frozen=True, slots=True)
class WantedBody:
    """A cached server message whose body is wanted and not local."""

    id: int
    folder_id: int
    uid: int
    size: int
    message_id: str | None  # the Message-ID header, to check a UID still holds the message


def bodies_wanted(
    conn: sqlite3.Connection,
    account_id: int,
    *,
    since: int | None = None,
    max_bytes: int | None = None,
    folder_ids: Collection[int] | None = None,
    exclude: Collection[int] = (),
    limit: int | None = None,
) -> list[WantedBody]:
    """The account's server messages (current UIDVALIDITY of their folder) whose exact bytes
    are not local, newest first by date (`sort_date`) across its folders: those dated at or
    after `since` (seconds since the epoch) when given, of at most `max_bytes` when given, in
    `folder_ids` when given, not in `exclude` (message ids), at most `limit` of them.

    A message kept as its text only (a partial body) is wanted too: the policy keeps bodies
    whole. `exclude` is filtered here, after a LIMIT widened by its size, so that it never
    becomes a long NOT IN list."""
    sql = (
        "SELECT m.id, m.folder_id, m.uid, m.size, m.message_id FROM messages AS m"
        " JOIN folders AS f ON f.id = m.folder_id"
        " WHERE m.account_id = ? AND m.body_local = 0 AND m.uid IS NOT NULL"
        " AND m.uidvalidity = coalesce(f.uidvalidity, 0)"
    )
    params: list[object] = [account_id]
    if since is not None:
        sql += " AND m.sort_date >= ?"
        params.append(since)
    if max_bytes is not None:
        sql += " AND m.size <= ?"
        params.append(max_bytes)
    if folder_ids is not None:
        chosen = sorted(set(folder_ids))
        if not chosen:
            return []
        if len(chosen) > _MAX_FOLDERS:
            raise ValueError(f"at most {_MAX_FOLDERS} folders at a time")
        sql += f" AND m.folder_id IN ({', '.join('?' * len(chosen))})"
        params.extend(chosen)
    sql += " ORDER BY m.sort_date DESC, m.id DESC"
    excluded = set(exclude)
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit + len(excluded))
    rows = [
        WantedBody(int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4])
        for r in conn.execute(sql, params)
        if int(r[0]) not in excluded
    ]
    return rows if limit is None else rows[:limit]


def not_local(conn: sqlite3.Connection, message_ids: Sequence[int]) -> list[WantedBody]:
    """Of `message_ids`, the server messages (current UIDVALIDITY of their folder) with neither
    their exact bytes nor their text (a partial body) local, in the order given: what opening
    them would fetch. Ids no longer in the store, or without a UID yet, are left out."""
    found: dict[int, WantedBody] = {}
    ids = list(dict.fromkeys(message_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for r in conn.execute(
            "SELECT m.id, m.folder_id, m.uid, m.size, m.message_id FROM messages AS m"  # noqa: S608 - placeholders only
            " JOIN folders AS f ON f.id = m.folder_id"
            f" WHERE m.id IN ({', '.join('?' * len(chunk))}) AND m.body_local = 0"
            " AND m.uid IS NOT NULL AND m.uidvalidity = coalesce(f.uidvalidity, 0)"
            " AND NOT EXISTS (SELECT 1 FROM partial_bodies AS p WHERE p.message_id = m.id)",
            chunk,
        ):
            found[int(r[0])] = WantedBody(int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4])
    return [found[i] for i in ids if i in found]
