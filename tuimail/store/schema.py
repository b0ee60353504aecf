"""The store's schema: DDL, `SCHEMA_VERSION` and the ordered migrations.

Schema version 1
================

Times are seconds since the Unix epoch (UTC): INTEGER for message dates (headers have one-second
resolution), REAL for everything the program itself stamps (sync times, op and outbox times).
JSON columns hold UTF-8 JSON text. Every table that the UI watches carries `revision`: the
store-wide revision of the write transaction that last changed the row (see store_state).

store_state      one row (id = 1)
  revision         store-wide counter, bumped once by every write transaction (db.transaction);
                   rows written in that transaction carry the new value
  tombstone_floor  tombstones at or below this revision have been pruned: asking for changes
                   since an older revision gets "reload everything"

accounts         one per configured account; an account has one incoming protocol
  id               never reused (AUTOINCREMENT), like every id the UI may cache
  name             the account name from the config ([A-Za-z0-9_-]+, but stored as data)
  protocol         'imap' | 'pop3' | NULL for a local account (folders only in the store)
  created          when the account first appeared in the store

folders          mailboxes of an account (for POP3: the INBOX it downloads into)
  account_id       owner; deleting the account deletes its folders
  name             full server name, decoded to text (IMAP modified UTF-7 already decoded)
  delimiter        hierarchy delimiter the server reported, NULL when flat or unknown
  role             FolderRole value ('' for an ordinary folder)
  uidvalidity      IMAP UIDVALIDITY the cached messages belong to; NULL until first selected
  uidnext          IMAP UIDNEXT seen at the last completed sync
  highestmodseq    IMAP HIGHESTMODSEQ seen at the last completed sync (CONDSTORE/QRESYNC)
  sync_resume      where an interrupted first sync continues; opaque to the store, the engine
                   that writes it defines its meaning
  last_sync        when the last sync of this folder completed
  last_error       the last sync error as a user-readable sentence, NULL when the last sync went
                   well; last_error_at says when
  total, unread    message counts, kept by triggers on messages (the folder list never counts)
  revision         see above; count changes bump it too

messages         one row per message in a folder (a message in two folders has two rows)
  folder_id        the folder it is in; account_id is the folder's account, repeated so that
                   threading and POP3 keys are per-account index lookups
  uidvalidity      the folder's UIDVALIDITY when the row was stored (0 when not an IMAP message
                   or unknown); with uid the server key (account, folder, UIDVALIDITY, UID)
  uid              IMAP UID; NULL for POP3 and local messages, and for a message moved or copied
                   locally whose new UID is not known yet
  uidl             POP3 UIDL (untrusted text: stored as data, never used as a path); unique per
                   account; NULL for IMAP and local messages
  message_id       Message-ID header without angle brackets, NULL when absent
  in_reply_to      first msg-id of In-Reply-To
  refs             JSON list of References msg-ids, oldest first
  subject          decoded Subject ('' when absent)
  from_addr, to_addr, cc_addr, bcc_addr, reply_to_addr
                   JSON lists of [display name, address]
  date             Date header, NULL when absent or unparseable
  internaldate     IMAP INTERNALDATE, NULL when not known
  first_seen       when this store first stored the message (POP3 delete-after-N-days uses
                   pop3_uidls.first_seen, which survives a local delete)
  sort_date        date, else internaldate, else first_seen: what "by date" sorts on
  from_sort        first sender's name or address, case-folded: what "by sender" sorts on
  subject_sort     subject without Re:/Fwd: prefixes, case-folded: what "by subject" sorts on
  flags            canonical flags, sorted and space-separated (codec.encode_flags)
  seen             generated: 1 when flags contain \\Seen
  size             message size in bytes (RFC822.SIZE from the server, or of the raw bytes)
  has_attachments  1 when the message has attachments (from the parsed body or the structure)
  thread_id        conversation group, computed when stored: the id of the thread's first
                   message; messages that reference each other (In-Reply-To/References, within
                   the account) share it. Display threading (JWZ) builds on these groups.
  body_local       1 when the exact raw bytes are in bodies
  revision         see above

message_refs     the msg-ids a message references (In-Reply-To and References, capped), so that
                 threading finds earlier messages and adopts orphans by index lookups
  message_id       the referencing message (messages.id)
  account_id       its account
  ref              a referenced msg-id

conversations    each folder's conversations (messages sharing a thread_id), kept by triggers on
                 messages, so the threaded list reads one row per conversation (v14)
  folder_id, thread_id  the key
  messages         how many of the conversation's messages are in the folder
  unread, flagged  how many of those are unread, flagged
  newest_date      the latest sort_date among them; with last_id (the highest id), the order of
                   the threaded list (newest conversation first)
  root_date, root_id  the oldest of them (sort_date, then id): the conversation's first line

bodies           exact message bytes, as the server sent them (CRLF line ends)
  message_id       messages.id; deleted with the message
  raw              the bytes

messages_fts     FTS5 index (rowid = messages.id) over subject, addresses (names and addresses of
                 From/To/Cc/Bcc) and body (text parts; empty until the body is local)

pop3_uidls       every UIDL ever stored for a POP3 account, kept when the local message is
                 deleted, so a message is downloaded once whatever happens to the local copy;
                 beside each UIDL, the message's content key ('sha256-message:' and the SHA-256
                 of its bytes, ingest.pop3_content_key), so a DELE can check the bytes first
  account_id, uidl the key
  first_seen       when the UIDL was first stored (delete-after-N-days counts from it)

pending_ops      journal of user actions made locally, waiting to be replayed on the IMAP server
                 (only accounts with a server have entries; local effects are applied at once)
  account_id       the account
  folder_id        the source folder on the server
  uidvalidity      the source folder's UIDVALIDITY when the op was queued
  kind             flag | unflag | seen | unseen | move | copy | delete | expunge
  targets          JSON list of [message id, UID or null]: the UIDs as they were when queued
                   (null: the message had no UID yet, the replay looks the row up)
  args             JSON object: flag for flag/unflag, to_folder_id for move/copy, copies (the new
                   local message ids, aligned with targets) for copy; folder: true for an
                   expunge of the whole folder (a plain EXPUNGE; targets empty);
                   message_id_headers (the targets' Message-IDs, null where absent) and, when one
                   lacks it, sizes: what the replay checks a UID still holds before acting on it
  state            'pending' | 'failed' (given up; shown to the user). Done ops are deleted.
  attempts         replay attempts so far
  last_error       why the last attempt failed
  created, updated times
  revision         see above

outbox           composed messages waiting to be sent, and their outcome
  account_id       the sending account
  message_id       the Message-ID fixed when queued (without angle brackets): a retry finds it
  raw              the exact RFC 5322 bytes to send (Bcc already removed from the headers)
  env_from         SMTP envelope sender (MAIL FROM)
  env_rcpts        JSON list of SMTP envelope recipients (RCPT TO), Bcc included
  state            queued | sending | sent | failed (permanent) | unknown (needs the user)
  attempts         how many times sending began
  next_attempt     not before this time (grace period, schedule, or backoff after a 4xx or a
                   failed connection)
  scheduled_at     the send-later time the user chose, NULL for "now"
  data_end_at      set in 'sending' just before the final "." of DATA is written: a sender that
                   dies after it leaves 'unknown' (never a silent resend), before it a resend
  last_reply       the server's last reply (or the local reason), for the outbox view
  sent_copy_done   1 once the copy in the Sent folder exists (or is not wanted)
  created, updated times
  revision         see above

outbox_history   every state change of an outbox item, with the server's reply
  outbox_id        the item
  at               when
  from_state, to_state
  reply            the server's reply or the local reason
  details          JSON (e.g. per-recipient replies), NULL when none

tombstones       deletions, so read.changes_since can say what vanished; opening the store
                 drops those more than db.TOMBSTONE_MARGIN revisions old
  revision         the revision of the deleting transaction
  kind             'account' | 'folder' | 'message' | 'outbox'
  object_id        the deleted row's id

Schema version 2
================

partial_bodies   what opening an IMAP message with attachments keeps when only its text was
                 fetched: the message rebuilt from BODY[HEADER], each part's MIME header and
                 the bodies of its text parts, with the other parts' bodies left empty. The
                 full bytes (bodies) replace it when the user saves or forwards an attachment,
                 or asks for the raw message; a message never has both rows.
  message_id       messages.id; deleted with the message
  raw              the rebuilt bytes (never exported or shown as the server's bytes)
  omitted          JSON list of the parts left out, each {"section", "content_type",
                   "filename", "size"} (size: the encoded octets BODYSTRUCTURE reports)

drafts           messages being composed, saved locally every few seconds and copied to the
                 IMAP account's Drafts folder when the composer closes or goes idle
  account_id       the account it is written from
  message_id       the draft's Message-ID (without angle brackets), kept across saves and used
                   when it is sent
  fields           JSON object: what the composer needs to reopen it (to, cc, bcc, subject,
                   body, attachments as paths, in_reply_to, references; original: the
                   stored message it answers or forwards, with the flag sending sets there)
  raw              RFC 5322 bytes of the last save, as copied to the server; NULL until built
  server_folder_id the Drafts folder holding its server copy; NULL when it has none
  server_uidvalidity, server_uid
                   where that copy is; NULL when unknown (a copy made without UIDPLUS is found
                   again by its Message-ID)
  upload_needed    1 when the local copy is newer than the server's
  discarded        1 once sent or discarded: the row stays until the server copy is deleted
  created, updated times
  revision         see above

Schema version 3
================

draft_parts      attachments a draft holds as bytes rather than as file paths: those of a message
                 taken back from the outbox (undo send), whose only copy was the queued message
  id               the draft's fields name its parts by these ids ("stored_parts"), in order
  draft_id         drafts.id; the parts go with the draft row
  filename         the attachment's file name as it was sent ('' when it had none)
  content_type     its type/subtype as it was sent
  data             the decoded bytes, attached again unchanged when the draft is sent

Schema version 4
================

outbox_originals the stored message an outbox item replies to or forwards: when the item is
                 recorded sent, the same transaction sets `flag` on it (an op, so the IMAP
                 replay sets it on the server too); nothing happens before, or if it never is
  outbox_id        outbox.id; goes with the item
  message_id       messages.id of the original; the row goes with the message
  flag             '\\Answered' or '$Forwarded'

outbox_refusals  recipients a server refused for good (5xx at RCPT) while it accepted others,
                 so the sent item stays in the outbox until the user has seen them
  outbox_id        outbox.id (a sent item); goes with the item
  recipient        the refused envelope recipient
  reply            the server's reply
                 The rows are deleted when the user dismisses them.

Schema version 5
================

marked_deleted   IMAP folders on a server without UIDPLUS that hold messages marked \\Deleted and
                 not expunged: there a delete or move by this client ends at \\Deleted (a plain
                 EXPUNGE would remove every marked message of the folder, other clients' too),
                 so the user is shown them and decides (imap.expunge, the expunge key)
  folder_id        folders.id; goes with the folder
  count            how many messages of the folder the server holds marked \\Deleted when last
                   looked (after a sync of the folder, or a replay that marked some); the row is
                   deleted when there are none
  checked          when it was counted

folders.mailbox_id
                 the server's MAILBOXID of the folder (RFC 8474 OBJECTID) its cache belongs to;
                 NULL when the server does not tell it. A folder whose name now stands for
                 another mailbox (renamed or swapped by another client) has another one: its
                 cache is rebuilt as for a UIDVALIDITY change

accounts         three more columns: the personal namespace prefix, and what the account's SMTP
                 server offered at the last connection, so a message it cannot carry is refused
                 before it is queued
  folder_prefix    the IMAP server's personal namespace prefix (RFC 2342 NAMESPACE), e.g.
                   'INBOX.' on Cyrus and Courier; '' when there is none or it is not known.
                   Folder names in the store stay the full server names; what the user sees
                   leaves the prefix out (store/folder_names.py)
  smtp_server      "host:port" of that server; NULL until the first connection
  smtp_utf8        1 when its EHLO listed SMTPUTF8 (RFC 6531), 0 when not; NULL until then

Schema version 6
================

messages_without_body
                 a partial index of messages (account_id, sort_date) WHERE body_local = 0: the
                 bodies an account's policy may still want (store/wanted.py), newest first,
                 read without a scan or a sort; it shrinks as bodies are downloaded

Schema version 7
================

outbox.unreachable
                 1 when a queued item waits only because its last try could not reach the
                 server (the connection was refused, timed out, or the name or the network
                 failed), 0 otherwise (a 4xx reply, the undo-send grace period, a schedule, a
                 fresh item). Such an item may be sent before its backoff ends once the server
                 answers again (outbox.expedite_unreachable); every change of state sets it
                 anew

Schema version 8
================

folder_ops       the user's folder actions (create, rename, delete) made locally, waiting to be
                 replayed on the IMAP server before the message ops (pending_ops); the folders
                 table shows their result at once. Not in pending_ops: a deleted folder's row is
                 gone, and pending_ops rows go with their folder
  account_id       the account
  folder_id        the local folder acted on (for a delete: the id it had; no foreign key)
  kind             create_folder | rename_folder | delete_folder
  name             the full server name acted on (create: the new folder; rename: the old name)
  new_name         rename: the new full server name; NULL otherwise
  args             JSON object: uidvalidity, mailbox_id and uidnext of the folder when queued
                   (what the replay checks the name still stands for before a rename or a
                   delete), known: how many of its server messages the store held (a delete
                   waits for no more); sent: true once the command may have reached the server
  state            'pending' | 'failed' (given up; shown to the user). Done ops are deleted.
  attempts, last_error, created, updated, revision
                   as in pending_ops

Schema version 9
================

folders.subscribed
                 1 when the server lists the folder as subscribed (LIST's \\Subscribed, or LSUB),
                 0 when it does not, NULL when not known (local and POP3 folders, a server
                 whose subscriptions could not be read). The user's (un)subscribe sets it at
                 once; the folder list of a pass does not undo it while its op waits
folder_ops.kind  also subscribe_folder | unsubscribe_folder (name: the folder's full name);
                 the table is rebuilt for the new CHECK, its rows kept

Schema version 10
=================

outbox_originals rebuilt with the key (outbox_id, message_id): an outbox item may forward several
                 stored messages (the marked ones, each attached whole), and sending it sets
                 `flag` on every one of them; the rows of earlier versions are kept

Schema version 11
=================

bodies.codec     how `raw` is kept (store/body_codec.py): 0 as received (the bodies of stores
                 made before this version, until `tuimail compact` packs them), 1 zstd,
                 2 zstd with the dictionary dict_id
bodies.dict_id   body_dictionaries.id for codec 2, else NULL (no foreign key: dictionaries
                 are never deleted, and an index on it would cost more than it guards)
body_dictionaries
                 zstd dictionaries trained on the store's own mail (once it holds enough)
  data             the dictionary's bytes
  created          when it was trained

Schema version 12
=================

messages.index_version
                 the form of the message's full-text entry (store/reindex.py): 1 the text as
                 it is, 2 folded (mail/fold.py). Entries of form 1 (stores made before) are
                 rewritten in the background; messages_to_reindex finds them

Schema version 13
=================

messages_fts     rebuilt contentless (FTS5 content='', columnsize=0): the index alone, without
                 FTS5's own copy of the text (store/index_entries.py); its entries are the
                 same, made again from the old copy, nothing parsed
index_texts      the text each entry of messages_fts was made from, packed like the bodies:
                 FTS5 takes an entry of a contentless table out only given that exact text
  message_id       messages.id (the entry's rowid); removed by messages_after_delete
  packed           JSON [subject, addresses, body] as indexed (folded), packed
  codec, dict_id   as in bodies
messages_after_delete
                 takes the entry out through the SQL function tuimail_index_text, which every
                 store connection has (index_entries.register)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from tuimail.store.migrations import V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V14, v13

Migration = str | Callable[[sqlite3.Connection], None]

_V1 = r"""
CREATE TABLE store_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL,
    tombstone_floor INTEGER NOT NULL
);
INSERT INTO store_state (id, revision, tombstone_floor) VALUES (1, 0, 0);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    protocol TEXT CHECK (protocol IN ('imap', 'pop3')),
    created REAL NOT NULL
);

CREATE TABLE folders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    delimiter TEXT,
    role TEXT NOT NULL DEFAULT '',
    uidvalidity INTEGER,
    uidnext INTEGER,
    highestmodseq INTEGER,
    sync_resume TEXT,
    last_sync REAL,
    last_error TEXT,
    last_error_at REAL,
    total INTEGER NOT NULL DEFAULT 0,
    unread INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX folders_by_revision ON folders (revision);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    folder_id INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    uidvalidity INTEGER NOT NULL DEFAULT 0,
    uid INTEGER,
    uidl TEXT,
    message_id TEXT,
    in_reply_to TEXT,
    refs TEXT NOT NULL DEFAULT '[]',
    subject TEXT NOT NULL DEFAULT '',
    from_addr TEXT NOT NULL DEFAULT '[]',
    to_addr TEXT NOT NULL DEFAULT '[]',
    cc_addr TEXT NOT NULL DEFAULT '[]',
    bcc_addr TEXT NOT NULL DEFAULT '[]',
    reply_to_addr TEXT NOT NULL DEFAULT '[]',
    date INTEGER,
    internaldate INTEGER,
    first_seen INTEGER NOT NULL,
    sort_date INTEGER NOT NULL,
    from_sort TEXT NOT NULL DEFAULT '',
    subject_sort TEXT NOT NULL DEFAULT '',
    flags TEXT NOT NULL DEFAULT '',
    seen INTEGER GENERATED ALWAYS AS (instr(' ' || flags || ' ', ' \Seen ') > 0) VIRTUAL,
    size INTEGER NOT NULL DEFAULT 0,
    has_attachments INTEGER NOT NULL DEFAULT 0,
    thread_id INTEGER NOT NULL,
    body_local INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL
);
-- The message list: ordered ids of one folder by date, sender, subject or size.
CREATE INDEX messages_by_date ON messages (folder_id, sort_date);
CREATE INDEX messages_by_sender ON messages (folder_id, from_sort, sort_date);
CREATE INDEX messages_by_subject ON messages (folder_id, subject_sort, sort_date);
CREATE INDEX messages_by_size ON messages (folder_id, size, sort_date);
-- Server keys: IMAP (folder, UIDVALIDITY, UID) and POP3 (account, UIDL).
CREATE UNIQUE INDEX messages_by_uid ON messages (folder_id, uidvalidity, uid);
CREATE UNIQUE INDEX messages_by_uidl ON messages (account_id, uidl) WHERE uidl IS NOT NULL;
-- Threading and Message-ID lookups (outbox Sent copies, imports) within an account.
CREATE INDEX messages_by_message_id ON messages (account_id, message_id);
CREATE INDEX messages_by_thread ON messages (thread_id);
-- read.changes_since
CREATE INDEX messages_by_revision ON messages (revision);

CREATE TABLE message_refs (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (message_id, ref)
) WITHOUT ROWID;
CREATE INDEX message_refs_by_ref ON message_refs (account_id, ref);

CREATE TABLE bodies (
    message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    raw BLOB NOT NULL
);

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    subject, addresses, body,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE pop3_uidls (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    uidl TEXT NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (account_id, uidl)
) WITHOUT ROWID;

CREATE TABLE pending_ops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    folder_id INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    uidvalidity INTEGER NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('flag', 'unflag', 'seen', 'unseen', 'move', 'copy', 'delete', 'expunge')),
    targets TEXT NOT NULL,
    args TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX pending_ops_by_account ON pending_ops (account_id, state, id);
CREATE INDEX pending_ops_by_folder ON pending_ops (folder_id, state);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    raw BLOB NOT NULL,
    env_from TEXT NOT NULL,
    env_rcpts TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'unknown')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    scheduled_at REAL,
    data_end_at REAL,
    last_reply TEXT,
    sent_copy_done INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX outbox_by_state ON outbox (state, next_attempt);
CREATE INDEX outbox_by_account ON outbox (account_id, state);
CREATE INDEX outbox_by_message_id ON outbox (message_id);
CREATE INDEX outbox_by_revision ON outbox (revision);

CREATE TABLE outbox_history (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    at REAL NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reply TEXT,
    details TEXT
);
CREATE INDEX outbox_history_by_item ON outbox_history (outbox_id, id);

CREATE TABLE tombstones (
    revision INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('account', 'folder', 'message', 'outbox')),
    object_id INTEGER NOT NULL
);
CREATE INDEX tombstones_by_revision ON tombstones (revision);

-- Folder counts follow every insert, delete, move and \Seen change of a message; the folder's
-- revision moves with them so the folder list knows to redraw.
CREATE TRIGGER messages_after_insert AFTER INSERT ON messages BEGIN
    UPDATE folders SET total = total + 1, unread = unread + (NOT NEW.seen),
        revision = NEW.revision
    WHERE id = NEW.folder_id;
END;

CREATE TRIGGER messages_after_update AFTER UPDATE OF flags, folder_id ON messages
WHEN OLD.folder_id IS NOT NEW.folder_id OR OLD.seen IS NOT NEW.seen BEGIN
    UPDATE folders SET total = total - 1, unread = unread - (NOT OLD.seen),
        revision = NEW.revision
    WHERE id = OLD.folder_id;
    UPDATE folders SET total = total + 1, unread = unread + (NOT NEW.seen),
        revision = NEW.revision
    WHERE id = NEW.folder_id;
END;

-- Deletes (also those cascading from a folder or an account) leave a tombstone and take the
-- message's full-text row with them.
CREATE TRIGGER messages_after_delete AFTER DELETE ON messages BEGIN
    UPDATE folders SET total = total - 1, unread = unread - (NOT OLD.seen),
        revision = (SELECT revision FROM store_state)
    WHERE id = OLD.folder_id;
    DELETE FROM messages_fts WHERE rowid = OLD.id;
    INSERT INTO tombstones (revision, kind, object_id)
        VALUES ((SELECT revision FROM store_state), 'message', OLD.id);
END;

CREATE TRIGGER folders_after_delete AFTER DELETE ON folders BEGIN
    INSERT INTO tombstones (revision, kind, object_id)
        VALUES ((SELECT revision FROM store_state), 'folder', OLD.id);
END;

CREATE TRIGGER accounts_after_delete AFTER DELETE ON accounts BEGIN
    INSERT INTO tombstones (revision, kind, object_id)
        VALUES ((SELECT revision FROM store_state), 'account', OLD.id);
END;

CREATE TRIGGER outbox_after_delete AFTER DELETE ON outbox BEGIN
    INSERT INTO tombstones (revision, kind, object_id)
        VALUES ((SELECT revision FROM store_state), 'outbox', OLD.id);
END;
"""

# MIGRATIONS[n] takes a store from version n to n + 1, in one transaction. A later schema change
# appends one entry (its SQL text in migrations.py, or a function of the connection) and a test
# that opens a store of the previous version; never edit an entry that has shipped.
MIGRATIONS: list[Migration] = [
    _V1,
    V2,
    V3,
    V4,
    V5,
    V6,
    V7,
    V8,
    V9,
    V10,
    V11,
    V12,
    v13,
    V14,
]

SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> Iterator[str]:
    """Split an SQL script into complete statements (trigger bodies contain semicolons).

    `executescript` would commit the migration's transaction, so statements run one by one.
    Whole-line `--` comments are dropped first.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        # A last statement may leave out its semicolon (a one-line migration).
        if sqlite3.complete_statement(pending + ";"):
            yield pending.strip() + ";"
            return
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:80]!r}")


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database file."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def apply_migrations(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Migrate step by step up to `target` (default: SCHEMA_VERSION), one committed transaction
    per step.

    The version is read again inside each step's write transaction, so two processes opening an
    old store at once do not both run a step. Returns the version reached.
    """
    if conn.in_transaction:
        raise RuntimeError("migrations need a connection outside any transaction")
    if target is None:
        target = SCHEMA_VERSION
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = user_version(conn)
            if version >= target:
                conn.execute("COMMIT")
                return version
            migration = MIGRATIONS[version]
            if isinstance(migration, str):
                for statement in statements(migration):
                    conn.execute(statement)
            else:
                migration(conn)
            # PRAGMA takes no parameters; version is an int from this module.
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
