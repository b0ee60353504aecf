"""The conversations of folders, as the threaded message list shows them: the messages that
lead them in its order, what each line stands for (counts, unread, flagged), and their messages.
Read from the `conversations` table the store keeps by triggers (store/migrations.py, V14)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from tuimail.store import read


@dataclass(frozen=True, slots=True)
class ThreadHead:
    """A conversation as the threaded message list shows it when closed."""

    message_id: int  # its first message (the oldest) in the folders asked about: its root
    thread_id: int
    count: int  # its messages in those folders
    unread: int  # of those, how many are unread
    flagged: int  # and how many are flagged


def thread_heads(conn: sqlite3.Connection, folder_ids: Sequence[int]) -> list[ThreadHead]:
    """The conversations of some folders, the one with the newest message first (a new reply
    brings its conversation up, as mutt's sort_aux=last-date), each led by its oldest one.

    Read from the `conversations` table the store keeps (one row per conversation and folder),
    in its date index's order for one folder; the rows of several folders are added up."""
    ids = list(folder_ids)
    if not ids:
        return []
    # Unread and flagged count over the whole conversation: a closed one must not hide them.
    if len(ids) == 1:
        found = conn.execute(
            "SELECT root_id, thread_id, messages, unread, flagged"
            " FROM conversations INDEXED BY conversations_by_date"
            " WHERE folder_id = ? ORDER BY newest_date DESC, last_id DESC",
            ids,
        )
        return [ThreadHead(*r) for r in found]
    marks = ",".join("?" * len(ids))
    # The root among the folders' roots: the oldest (by the key, one lookup per folder).
    sql = (
        "SELECT (SELECT r.root_id FROM conversations AS r"  # noqa: S608 - placeholders only
        f" WHERE r.folder_id IN ({marks}) AND r.thread_id = g.thread_id"
        " ORDER BY r.root_date, r.root_id LIMIT 1),"
        " g.thread_id, g.n, g.unread, g.flagged FROM ("
        " SELECT thread_id, sum(messages) AS n, sum(unread) AS unread, sum(flagged) AS flagged,"
        " max(newest_date) AS newest, max(last_id) AS last"
        f" FROM conversations WHERE folder_id IN ({marks}) GROUP BY thread_id"
        ") AS g ORDER BY g.newest DESC, g.last DESC"
    )
    return [ThreadHead(*r) for r in conn.execute(sql, [*ids, *ids])]


def conversation_roots(conn: sqlite3.Connection, folder_ids: Sequence[int]) -> list[int]:
    """The ids of the messages that lead the conversations of some folders, in `thread_heads`'
    order: all the threaded list needs to know of them before it shows a page (`heads_of`).
    For one folder, read from the date index alone (a million messages: a fraction of a
    second)."""
    ids = list(folder_ids)
    if len(ids) != 1:
        return [head.message_id for head in thread_heads(conn, ids)]
    found = conn.execute(
        "SELECT root_id FROM conversations INDEXED BY conversations_by_date"
        " WHERE folder_id = ? ORDER BY newest_date DESC, last_id DESC",
        ids,
    )
    return [r[0] for r in found]


def heads_of(
    conn: sqlite3.Connection, folder_ids: Sequence[int], root_ids: Sequence[int]
) -> dict[int, ThreadHead]:
    """The conversations (in some folders) that messages lead, by the leading message's id, as
    `thread_heads` gives them; a message no longer in the store is left out."""
    ids = list(folder_ids)
    found: dict[int, ThreadHead] = {}
    if not ids:
        return found
    marks = ",".join("?" * len(ids))
    for chunk in read.id_chunks(root_ids):
        for r in conn.execute(
            "SELECT m.id, m.thread_id, sum(c.messages), sum(c.unread), sum(c.flagged)"  # noqa: S608
            # CROSS JOIN: the messages drive the loop (else a folder's every conversation may)
            " FROM messages AS m CROSS JOIN conversations AS c ON c.thread_id = m.thread_id"
            f" WHERE m.id IN ({','.join('?' * len(chunk))}) AND c.folder_id IN ({marks})"
            " GROUP BY m.id",
            [*chunk, *ids],
        ):
            found[r[0]] = ThreadHead(*r)
    return found


def conversation_root(
    conn: sqlite3.Connection, folder_ids: Sequence[int], thread_id: int
) -> int | None:
    """The id of the message that leads a conversation in some folders (None: none there)."""
    ids = list(folder_ids)
    if not ids:
        return None
    found = conn.execute(
        "SELECT root_id FROM conversations"  # noqa: S608 - placeholders only
        f" WHERE folder_id IN ({','.join('?' * len(ids))}) AND thread_id = ?"
        " ORDER BY root_date, root_id LIMIT 1",
        [*ids, thread_id],
    ).fetchone()
    return None if found is None else int(found[0])


def thread_members(
    conn: sqlite3.Connection, thread_id: int, folder_ids: Sequence[int]
) -> list[int]:
    """Ids of a conversation's messages in some folders, oldest first."""
    ids = list(folder_ids)
    if not ids:
        return []
    sql = (
        "SELECT id FROM messages WHERE thread_id = ?"  # noqa: S608 - placeholders only
        f" AND folder_id IN ({','.join('?' * len(ids))}) ORDER BY sort_date, id"
    )
    return [r[0] for r in conn.execute(sql, [thread_id, *ids])]
