"""Bringing the full-text index of older messages up to the current form, a batch at a time,
in the background: `INDEX_VERSION` is the form new entries are written in (`messages.
index_version` says each message's), and `reindex_some` rewrites the entries of messages indexed
in an older form.

Version 1: subject, addresses and body text as they are (the tokenizer drops accents it can
decompose). Version 2: the same text folded (mail/fold.py: ł, ø, ß... as plain letters), so
`zazolc` finds "Zażółć". The entry's own text is folded again: no message is parsed.
While some entries are older, a search looks for the folded and the typed form of each word
(store/search.py), so nothing that was found before goes missing meanwhile.
"""

from __future__ import annotations

import sqlite3

from tuimail.mail.fold import fold
from tuimail.store.db import transaction

INDEX_VERSION = 2
BATCH = 500  # entries rewritten per committed transaction


def reindex_some(conn: sqlite3.Connection, *, limit: int = BATCH) -> int:
    """Rewrite up to `limit` index entries of older form, in one transaction; how many (0: the
    index is current)."""
    with transaction(conn):
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM messages WHERE index_version < 2 LIMIT ?", (limit,)
            )
        ]
        for message_id in ids:
            row = conn.execute(
                "SELECT subject, addresses, body FROM messages_fts WHERE rowid = ?", (message_id,)
            ).fetchone()
            if row is not None:
                folded = tuple(fold(text or "") for text in row)
                if folded != tuple(text or "" for text in row):
                    conn.execute(
                        "UPDATE messages_fts SET subject = ?, addresses = ?, body = ?"
                        " WHERE rowid = ?",
                        (*folded, message_id),
                    )
            conn.execute(
                "UPDATE messages SET index_version = ? WHERE id = ?", (INDEX_VERSION, message_id)
            )
        return len(ids)


def reindex_all(conn: sqlite3.Connection) -> int:
    """`reindex_some` until the index is current; how many entries were brought up to date."""
    done = 0
    while count := reindex_some(conn):
        done += count
    return done


def behind(conn: sqlite3.Connection) -> bool:
    """Whether some index entries are of an older form."""
    return (
        conn.execute("SELECT 1 FROM messages WHERE index_version < 2 LIMIT 1").fetchone()
        is not None
    )
