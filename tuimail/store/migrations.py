"""The SQL of each step of the store's schema after the first, one text per version: `V2`
takes a store from version 1 to 2, and so on. What each version holds is documented in
schema.py, which orders them (`schema.MIGRATIONS`); an entry that has shipped is never edited.
"""

from __future__ import annotations

import sqlite3

from tuimail.store import index_entries

V2 = """
CREATE TABLE partial_bodies (
    message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    raw BLOB NOT NULL,
    omitted TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE drafts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}',
    raw BLOB,
    server_folder_id INTEGER REFERENCES folders (id) ON DELETE SET NULL,
    server_uidvalidity INTEGER,
    server_uid INTEGER,
    upload_needed INTEGER NOT NULL DEFAULT 0,
    discarded INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX drafts_by_account ON drafts (account_id, discarded, updated);
CREATE INDEX drafts_by_revision ON drafts (revision);
CREATE INDEX drafts_by_server_folder ON drafts (server_folder_id);
"""

V3 = """
CREATE TABLE draft_parts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    draft_id INTEGER NOT NULL REFERENCES drafts (id) ON DELETE CASCADE,
    filename TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX draft_parts_by_draft ON draft_parts (draft_id);
"""

V4 = """
CREATE TABLE outbox_originals (
    outbox_id INTEGER PRIMARY KEY REFERENCES outbox (id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    flag TEXT NOT NULL
);
CREATE INDEX outbox_originals_by_message ON outbox_originals (message_id);

CREATE TABLE outbox_refusals (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    reply TEXT NOT NULL,
    PRIMARY KEY (outbox_id, recipient)
);
"""

V5 = """
CREATE TABLE marked_deleted (
    folder_id INTEGER PRIMARY KEY REFERENCES folders (id) ON DELETE CASCADE,
    count INTEGER NOT NULL,
    checked REAL NOT NULL
);
ALTER TABLE folders ADD COLUMN mailbox_id TEXT;
ALTER TABLE accounts ADD COLUMN folder_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN smtp_server TEXT;
ALTER TABLE accounts ADD COLUMN smtp_utf8 INTEGER;
"""

V6 = """
CREATE INDEX messages_without_body ON messages (account_id, sort_date) WHERE body_local = 0;
"""

V7 = """
ALTER TABLE outbox ADD COLUMN unreachable INTEGER NOT NULL DEFAULT 0;
"""

V8 = """
CREATE TABLE folder_ops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    folder_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('create_folder', 'rename_folder', 'delete_folder')),
    name TEXT NOT NULL,
    new_name TEXT,
    args TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX folder_ops_by_account ON folder_ops (account_id, state, id);
"""

V9 = """
ALTER TABLE folders ADD COLUMN subscribed INTEGER;
CREATE TABLE folder_ops_v9 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    folder_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('create_folder', 'rename_folder', 'delete_folder',
                                       'subscribe_folder', 'unsubscribe_folder')),
    name TEXT NOT NULL,
    new_name TEXT,
    args TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    revision INTEGER NOT NULL
);
INSERT INTO folder_ops_v9 SELECT * FROM folder_ops;
-- Ids are never reused: the new table goes on from the old one's counter.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'folder_ops_v9', seq FROM sqlite_sequence WHERE name = 'folder_ops'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'folder_ops_v9');
UPDATE sqlite_sequence
    SET seq = max(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'folder_ops'))
    WHERE name = 'folder_ops_v9'
    AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'folder_ops');
DROP TABLE folder_ops;
ALTER TABLE folder_ops_v9 RENAME TO folder_ops;
CREATE INDEX folder_ops_by_account ON folder_ops (account_id, state, id);
"""

V10 = """
CREATE TABLE outbox_originals_v10 (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    flag TEXT NOT NULL,
    PRIMARY KEY (outbox_id, message_id)
);
INSERT INTO outbox_originals_v10 (outbox_id, message_id, flag)
    SELECT outbox_id, message_id, flag FROM outbox_originals;
DROP TABLE outbox_originals;
ALTER TABLE outbox_originals_v10 RENAME TO outbox_originals;
CREATE INDEX outbox_originals_by_message ON outbox_originals (message_id);
"""

V11 = """
CREATE TABLE body_dictionaries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data BLOB NOT NULL,
    created REAL NOT NULL
);
ALTER TABLE bodies ADD COLUMN codec INTEGER NOT NULL DEFAULT 0;
ALTER TABLE bodies ADD COLUMN dict_id INTEGER;
"""

V12 = """
ALTER TABLE messages ADD COLUMN index_version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX messages_to_reindex ON messages (id) WHERE index_version < 2;
"""

_V13_DELETE_TRIGGER = """
CREATE TRIGGER messages_after_delete AFTER DELETE ON messages BEGIN
    UPDATE folders SET total = total - 1, unread = unread - (NOT OLD.seen),
        revision = (SELECT revision FROM store_state)
    WHERE id = OLD.folder_id;
    {index_entry_out}
    INSERT INTO tombstones (revision, kind, object_id)
        VALUES ((SELECT revision FROM store_state), 'message', OLD.id);
END;
"""


def v13(conn: sqlite3.Connection) -> None:
    """The full-text index without its own copy of the text (store/index_entries.py); the
    delete trigger takes a message's entry out with the text kept beside it."""
    conn.execute("DROP TRIGGER messages_after_delete")  # it names the table rebuilt
    index_entries.migrate_to_contentless(conn)
    conn.execute(
        _V13_DELETE_TRIGGER.format(index_entry_out=index_entries.DELETE_TRIGGER_SQL.strip())
    )


# The conversations of each folder, kept by triggers as messages come, go, move and change flags,
# so that the threaded message list reads one row per conversation (in the order it shows them)
# instead of grouping every message of the folder (seconds at a million messages).
_FLAGGED = r"(instr(' ' || {m}.flags || ' ', ' \Flagged ') > 0)"
# A message's own conversation row when it is the first, or its sums added to the row there is.
_CONVERSATION_IN = """
    INSERT INTO conversations (folder_id, thread_id, messages, unread, flagged,
            newest_date, last_id, root_date, root_id)
        SELECT NEW.folder_id, NEW.thread_id, 1, NOT NEW.seen, {flagged},
            NEW.sort_date, NEW.id, NEW.sort_date, NEW.id
        WHERE NEW.thread_id != 0
    ON CONFLICT (folder_id, thread_id) DO UPDATE SET
        messages = messages + 1,
        unread = unread + excluded.unread,
        flagged = flagged + excluded.flagged,
        newest_date = max(newest_date, excluded.newest_date),
        last_id = max(last_id, excluded.last_id),
        root_id = CASE WHEN (excluded.root_date, excluded.root_id) < (root_date, root_id)
            THEN excluded.root_id ELSE root_id END,
        root_date = min(root_date, excluded.root_date);
""".format(flagged=_FLAGGED.format(m="NEW"))
# The newest, last and root of a conversation again, from its messages (by the thread index: a
# conversation is small), when the message gone was one of them.
_CONVERSATION_ENDS = """
    UPDATE conversations SET
        (newest_date, last_id) = (SELECT max(sort_date), max(id)
            FROM messages INDEXED BY messages_by_thread
            WHERE thread_id = {m}.thread_id AND folder_id = {m}.folder_id),
        (root_date, root_id) = (SELECT sort_date, id FROM messages INDEXED BY messages_by_thread
            WHERE thread_id = {m}.thread_id AND folder_id = {m}.folder_id
            ORDER BY sort_date, id LIMIT 1)
    WHERE folder_id = {m}.folder_id AND thread_id = {m}.thread_id{when};
"""
_CONVERSATION_OUT = f"""
    UPDATE conversations SET messages = messages - 1, unread = unread - (NOT OLD.seen),
        flagged = flagged - {_FLAGGED.format(m="OLD")}
    WHERE folder_id = OLD.folder_id AND thread_id = OLD.thread_id;
    DELETE FROM conversations
    WHERE folder_id = OLD.folder_id AND thread_id = OLD.thread_id AND messages < 1;
"""  # noqa: S608 - fixed SQL text, no values
_CONVERSATION_OUT += _CONVERSATION_ENDS.format(
    m="OLD", when=" AND (OLD.id IN (root_id, last_id) OR OLD.sort_date >= newest_date)"
)

V14 = f"""
CREATE TABLE conversations (
    folder_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    unread INTEGER NOT NULL,
    flagged INTEGER NOT NULL,
    newest_date INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    root_date INTEGER NOT NULL,
    root_id INTEGER NOT NULL,
    PRIMARY KEY (folder_id, thread_id)
) WITHOUT ROWID;
-- The threaded list's order, with the root: the list of a folder's conversations is read from
-- this index alone.
CREATE INDEX conversations_by_date ON conversations (folder_id, newest_date, last_id, root_id);

INSERT INTO conversations (folder_id, thread_id, messages, unread, flagged,
        newest_date, last_id, root_date, root_id)
    SELECT folder_id, thread_id, count(*), sum(NOT seen), sum({_FLAGGED.format(m="messages")}),
        max(sort_date), max(id), min(sort_date), 0
    FROM messages WHERE thread_id != 0 GROUP BY folder_id, thread_id;
UPDATE conversations SET root_id = (SELECT id FROM messages INDEXED BY messages_by_thread
    WHERE thread_id = conversations.thread_id AND folder_id = conversations.folder_id
    ORDER BY sort_date, id LIMIT 1);

CREATE TRIGGER conversations_after_insert AFTER INSERT ON messages
WHEN NEW.thread_id != 0 BEGIN
{_CONVERSATION_IN}
END;

CREATE TRIGGER conversations_after_delete AFTER DELETE ON messages
WHEN OLD.thread_id != 0 BEGIN
{_CONVERSATION_OUT}
END;

-- Moved to another folder or conversation (a thread joined to another): out of one, into the
-- other.
CREATE TRIGGER conversations_after_move AFTER UPDATE OF folder_id, thread_id ON messages
WHEN OLD.folder_id IS NOT NEW.folder_id OR OLD.thread_id IS NOT NEW.thread_id BEGIN
{_CONVERSATION_OUT}
{_CONVERSATION_IN}
END;

CREATE TRIGGER conversations_after_flags AFTER UPDATE OF flags ON messages
WHEN OLD.folder_id IS NEW.folder_id AND OLD.thread_id IS NEW.thread_id BEGIN
    UPDATE conversations SET unread = unread + (NOT NEW.seen) - (NOT OLD.seen),
        flagged = flagged + {_FLAGGED.format(m="NEW")} - {_FLAGGED.format(m="OLD")}
    WHERE folder_id = NEW.folder_id AND thread_id = NEW.thread_id;
END;

CREATE TRIGGER conversations_after_date AFTER UPDATE OF sort_date ON messages
WHEN OLD.folder_id IS NEW.folder_id AND OLD.thread_id IS NEW.thread_id
    AND OLD.sort_date IS NOT NEW.sort_date BEGIN
{_CONVERSATION_ENDS.format(m="NEW", when="")}
END;

-- A folder deleted takes its conversations first: its messages (deleted by the cascade) then
-- find no row to update, one by one.
CREATE TRIGGER conversations_before_folder_delete BEFORE DELETE ON folders BEGIN
    DELETE FROM conversations WHERE folder_id = OLD.id;
END;
"""  # noqa: S608 - fixed SQL text, no values
