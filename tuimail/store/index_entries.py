"""The entries of the full-text index, and the text each was made from.

`messages_fts` is contentless (FTS5 `content=''`, schema 13): it holds the index and no copy of
the text, which took as much room as the index and the bodies' text together. FTS5 takes an
entry of a contentless table out only when given the exact text it was made from (the 'delete'
command), so that text is kept beside it in `index_texts`, packed like the bodies
(store/body_codec.py: zstd with the store's dictionary), a fraction of the copy FTS5 kept. It
also lets the index be brought to a newer form without parsing any message (store/reindex.py).

Every write of `messages_fts` goes through this module. The delete trigger of `messages` (also
when a folder or an account goes) reads the text through the SQL function `register` adds to
each store connection; a connection without it cannot delete messages, and says so.
"""

from __future__ import annotations

import json
import sqlite3
import weakref
from collections.abc import Callable

from tuimail.store import packing

# The form of a message's entry (`messages.index_version`; store/reindex.py): new entries are
# written in INDEX_VERSION; BODY_NOT_INDEXED is an entry of the subject and addresses alone,
# whose stored body is still to be parsed (ingest's `defer_index`).
INDEX_VERSION = 2
BODY_NOT_INDEXED = 0


# After a run that made this many entries, the index is merged into one b-tree (`compact`).
COMPACT_AFTER = 20_000
MERGE_STEP_PAGES = 2_000  # pages one step of the merge writes, in its own transaction

# behind() and pending() read the partial index `messages_to_reindex` (store/migrations.py),
# named: with statistics (ANALYZE) saying it is empty, SQLite would rather scan every message.
# Its condition is written as it is there, "index_version < 2" (INDEX_VERSION): SQLite uses a
# partial index only for the same expression, never for a parameter.


def behind(conn: sqlite3.Connection) -> bool:
    """Whether some index entries are incomplete or of an older form."""
    found = conn.execute(
        "SELECT 1 FROM messages INDEXED BY messages_to_reindex WHERE index_version < 2 LIMIT 1"
    ).fetchone()
    return found is not None


def pending(conn: sqlite3.Connection) -> int:
    """How many messages' entries are incomplete or of an older form."""
    return int(
        conn.execute(
            "SELECT count(*) FROM messages INDEXED BY messages_to_reindex WHERE index_version < 2"
        ).fetchone()[0]
    )


Texts = tuple[str, str, str]  # subject, addresses, body: the index's columns, as indexed

SQL_FUNCTION = "tuimail_index_text"

# The trigger's statements (schema 13): the entry out of the index, then its text.
DELETE_TRIGGER_SQL = """
    INSERT INTO messages_fts (messages_fts, rowid, subject, addresses, body)
        SELECT 'delete', OLD.id, tuimail_index_text(packed, codec, dict_id, 0),
            tuimail_index_text(packed, codec, dict_id, 1),
            tuimail_index_text(packed, codec, dict_id, 2)
        FROM index_texts WHERE message_id = OLD.id;
    DELETE FROM index_texts WHERE message_id = OLD.id;"""


def _pack(conn: sqlite3.Connection, texts: Texts) -> tuple[bytes, int, int | None]:
    data = json.dumps(list(texts), ensure_ascii=False, separators=(",", ":")).encode()
    return packing.pack(conn, data)


def _unpack(conn: sqlite3.Connection, blob: bytes, codec: int, dict_id: int | None) -> Texts:
    subject, addresses, body = json.loads(packing.unpack(conn, blob, codec, dict_id))
    return str(subject), str(addresses), str(body)


def add(conn: sqlite3.Connection, message_id: int, texts: Texts) -> None:
    """Index message `message_id` (which has no entry yet) with `texts`, already folded."""
    conn.execute(
        "INSERT INTO messages_fts (rowid, subject, addresses, body) VALUES (?, ?, ?, ?)",
        (message_id, *texts),
    )
    conn.execute(
        "INSERT INTO index_texts (message_id, packed, codec, dict_id) VALUES (?, ?, ?, ?)",
        (message_id, *_pack(conn, texts)),
    )


def texts(conn: sqlite3.Connection, message_id: int) -> Texts | None:
    """What message `message_id`'s entry was made from (None: it has none)."""
    row = conn.execute(
        "SELECT packed, codec, dict_id FROM index_texts WHERE message_id = ?", (message_id,)
    ).fetchone()
    return None if row is None else _unpack(conn, row[0], row[1], row[2])


def _remove(conn: sqlite3.Connection, message_id: int, old: Texts) -> None:
    conn.execute(
        "INSERT INTO messages_fts (messages_fts, rowid, subject, addresses, body)"
        " VALUES ('delete', ?, ?, ?, ?)",
        (message_id, *old),
    )
    conn.execute("DELETE FROM index_texts WHERE message_id = ?", (message_id,))


def replace(conn: sqlite3.Connection, message_id: int, new: Texts) -> bool:
    """Make message `message_id`'s entry from `new` instead; False when it has no entry."""
    old = texts(conn, message_id)
    if old is None:
        return False
    if old != new:
        _remove(conn, message_id, old)
        add(conn, message_id, new)
    return True


def set_body(conn: sqlite3.Connection, message_id: int, body: str) -> None:
    """Index the (folded) body text of a message whose body came after its headers."""
    old = texts(conn, message_id)
    if old is not None:
        replace(conn, message_id, (old[0], old[1], body))


def copy(conn: sqlite3.Connection, new_id: int, message_id: int) -> None:
    """Give message `new_id` (a copy of `message_id`) the same entry."""
    old = texts(conn, message_id)
    if old is not None:
        add(conn, new_id, old)


def register(conn: sqlite3.Connection) -> None:
    """Add the SQL function the delete trigger reads an entry's text with: (packed, codec,
    dict_id, column) gives that column's text."""
    owner = weakref.ref(conn)  # the function is kept by the connection: no cycle
    last: list[object] = [None, None]  # the trigger asks for three columns of one row in a row

    def column(blob: bytes, codec: int, dict_id: int | None, index: int) -> str:
        if last[0] != (blob, codec, dict_id):
            store = owner()
            if store is None:  # pragma: no cover - the connection calls it, so it is alive
                raise sqlite3.ProgrammingError("the store connection is closed")
            last[:] = [(blob, codec, dict_id), _unpack(store, blob, codec, dict_id)]
        found = last[1]
        assert isinstance(found, tuple)
        return str(found[index])

    conn.create_function(SQL_FUNCTION, 4, column, deterministic=True)


def migrate_to_contentless(conn: sqlite3.Connection) -> None:
    """Schema 13: move the index's text out of FTS5's own copy into `index_texts`, packed, and
    rebuild `messages_fts` without content from it (the same entries: nothing is parsed)."""
    conn.execute(
        "CREATE TABLE index_texts ("
        " message_id INTEGER PRIMARY KEY, packed BLOB NOT NULL,"
        " codec INTEGER NOT NULL, dict_id INTEGER)"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE messages_fts_v13 USING fts5 ("
        " subject, addresses, body, content = '', columnsize = 0,"
        " tokenize = 'unicode61 remove_diacritics 2')"
    )
    # Only entries of messages still stored: an orphan could not be deleted later.
    rows = conn.execute(
        "SELECT f.rowid, f.subject, f.addresses, f.body FROM messages_fts AS f"
        " JOIN messages AS m ON m.id = f.rowid"
    )
    for message_id, subject, addresses, body in rows:
        entry = (subject or "", addresses or "", body or "")
        conn.execute(
            "INSERT INTO messages_fts_v13 (rowid, subject, addresses, body) VALUES (?, ?, ?, ?)",
            (message_id, *entry),
        )
        conn.execute(
            "INSERT INTO index_texts (message_id, packed, codec, dict_id) VALUES (?, ?, ?, ?)",
            (message_id, *_pack(conn, entry)),
        )
    conn.execute("DROP TABLE messages_fts")
    conn.execute("ALTER TABLE messages_fts_v13 RENAME TO messages_fts")


def compact(
    conn: sqlite3.Connection,
    *,
    stop: Callable[[], bool] = lambda: False,
    between: Callable[[], object] = lambda: None,
) -> bool:
    """Merge the index's b-trees (FTS5 segments) into one, MERGE_STEP_PAGES at a time, each
    step a committed transaction (FTS5's 'merge' with a negative page count); whether it
    finished (`stop` is asked before each step, `between` runs after each). A bulk of new
    entries (a first sync, an import) leaves a dozen segments that FTS5's own merging keeps
    apart, and every lookup reads each: at a million messages, 15 of them made the check of
    one message six times slower. A step changes no row anyone reads: no store revision."""
    while not stop():
        before = conn.total_changes
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', ?)",
                (-MERGE_STEP_PAGES,),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        # FTS5: fewer than two changes means there was nothing left to merge.
        if conn.total_changes - before < 2:
            return True
        between()
    return False
