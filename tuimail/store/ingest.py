"""Ingest: the one way a message enters the store (engines, importer and demo all use it).

Everything the message list, threading and search need is computed here, once, when a message
is stored: envelope columns, sort keys, thread id and the full-text row.

A body's text for the index can come later (`defer_index`): the message is stored with its
header section alone parsed (a twentieth of a whole parse: no MIME walk, no HTML to text), its
entry holds the subject and addresses, and `messages.index_version` is `BODY_NOT_INDEXED` until
store/reindex.py parses the stored body and completes the entry. So a sync or a download is done
once the bodies are durable, and the index follows.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tuimail.core.model import Envelope
from tuimail.mail.fold import fold
from tuimail.store import body_codec, codec, index_entries
from tuimail.store.body_codec import PackedBody
from tuimail.store.db import StoreError, transaction
from tuimail.store.index_entries import BODY_NOT_INDEXED, INDEX_VERSION

if TYPE_CHECKING:
    from tuimail.mail.attachments import OmittedPart

# How many referenced msg-ids of one message threading looks at (the newest ones): a hostile
# References header must not make storing a message expensive.
MAX_REFS = 100
# POP3 keys made from a message's exact bytes (see `pop3_content_key`).
CONTENT_KEY_PREFIX = "sha256-message:"


def pop3_content_key(raw: bytes) -> str:
    """The POP3 key of a message's exact bytes: a SHA-256 digest of the whole message. Stored
    beside the UIDL of every POP3 message, so that before a message is deleted on the server its
    bytes can be checked against what was committed (a key that cannot collide), and used alone
    as the key on a server without UIDL."""
    import hashlib  # only when a POP3 message is stored or deleted

    return CONTENT_KEY_PREFIX + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message for `store_messages`; the fields mean what `store_message`'s arguments mean.
    `raw` may come packed by the caller (`body_codec.pack_body`, beside a writer process's
    work), with its `parsed` (and for POP3 its `content_key`)."""

    raw: bytes | PackedBody | None = None
    header_bytes: bytes | None = None
    uid: int | None = None
    uidl: str | None = None
    flags: Iterable[str | bytes] = ()
    internaldate: datetime | None = None
    size: int | None = None
    has_attachments: bool | None = None
    parsed: ParsedRaw | None = None  # parse_raw(raw), when the caller computed it already
    # pop3_content_key(raw), when the caller computed it already (a POP3 download that hands
    # its batches to a writer process computes it beside the writer's work).
    content_key: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedRaw:
    """What ingest takes from the parser, computed before the write transaction starts
    (`parse_raw`; picklable, so it can be computed in another process)."""

    envelope: Envelope
    body_text: str | None  # None: the body is not parsed yet (stored with `defer_index`)


def store_message(
    conn: sqlite3.Connection,
    folder_id: int,
    *,
    raw: bytes | None = None,
    header_bytes: bytes | None = None,
    uid: int | None = None,
    uidl: str | None = None,
    flags: Iterable[str | bytes] = (),
    internaldate: datetime | None = None,
    size: int | None = None,
    has_attachments: bool | None = None,
    now: datetime | None = None,
) -> int:
    """Store one message in a folder and return its id; one committed transaction.

    Give `raw` (the exact bytes; the body becomes local) or `header_bytes` (headers only; the
    body can follow with `store_body`). The key is `uid` (IMAP, under the folder's current
    UIDVALIDITY) or `uidl` (POP3, per account); storing a key that is already there returns the
    existing row unchanged, except that a missing body is filled in from `raw`. Without a key
    every call stores a new message. `flags` may be str or bytes (as imapclient returns them).
    `size` defaults to the length of `raw`; `has_attachments` (from IMAP BODYSTRUCTURE)
    overrides what the headers suggest. `now` is the first-seen time (default: the clock).
    """
    incoming = IncomingMessage(
        raw=raw,
        header_bytes=header_bytes,
        uid=uid,
        uidl=uidl,
        flags=flags,
        internaldate=internaldate,
        size=size,
        has_attachments=has_attachments,
    )
    return store_messages(conn, folder_id, [incoming], now=now)[0]


def store_messages(
    conn: sqlite3.Connection,
    folder_id: int,
    messages: Iterable[IncomingMessage],
    *,
    now: datetime | None = None,
    before_commit: Callable[[], None] | None = None,
    defer_index: bool = False,
) -> list[int]:
    """Store many messages of one folder in one transaction (engines commit in batches).

    Returns the message ids in the order given. Parsing happens before the write lock is taken.
    `before_commit` runs inside the transaction after the last write (an engine's crash point):
    an engine that needs that should pass it rather than wrap this call in its own transaction,
    whose savepoint would cost a full-text index flush per batch. With `defer_index`, a
    message given whole (and not already parsed) has only its header section parsed: its body's
    text is indexed later (see the module's docstring).
    """
    batch = list(messages)
    for item in batch:
        _check_incoming(item)
    parsed = [_parse(item, defer_index) for item in batch]
    first_seen = int(codec.now_epoch(now))
    entries: list[tuple[int, index_entries.Texts]] = []
    with transaction(conn) as revision:
        account_id, uidvalidity = _folder_key(conn, folder_id)
        new_id = _next_message_id(conn)
        ids: list[int] = []
        for item, info in zip(batch, parsed, strict=True):
            stored = _store_one(
                conn, revision, folder_id, account_id, uidvalidity, item, info, first_seen,
                entries, new_id,
            )  # fmt: skip
            if stored == new_id:
                new_id += 1
            ids.append(stored)
        # The full-text entries last: a statement that needs a statement journal (an insert
        # into messages, with its triggers) makes FTS5 write out what it holds in memory, so
        # entries made between them became one tiny index segment per message, merged and
        # merged again (a third of an import's time).
        for message_id, texts in entries:
            index_entries.add(conn, message_id, texts)
        if before_commit is not None:
            before_commit()
    return ids


@dataclass(frozen=True, slots=True)
class BodyIndex:
    """What storing a body takes from parsing it: the full-text body and the attachment flag.

    Computed by `index_body`, a pure function of the bytes, so it can run ahead of the write
    (in another process: see `tuimail.store.indexer`).
    """

    body_text: str
    has_attachments: bool


def index_body(raw: bytes) -> BodyIndex:
    """Parse a raw message for `store_body`."""
    from tuimail.mail.parse import parse_message  # loaded when first needed
    from tuimail.mail.render import search_text  # loaded when first needed

    parsed = parse_message(raw)
    return BodyIndex(search_text(parsed), parsed.envelope.has_attachments)


def store_body(
    conn: sqlite3.Connection, message_id: int, raw: bytes, index: BodyIndex | None = None
) -> None:
    """Keep the exact bytes of a message stored header-first, and index its body text.

    `index` is `index_body(raw)` when the caller computed it already. Storing a body that is
    already local changes nothing. A size still unknown (0) becomes the length of `raw`.
    """
    store_bodies(conn, [(message_id, raw, index)])


def store_bodies(
    conn: sqlite3.Connection,
    bodies: Iterable[tuple[int, bytes | PackedBody, BodyIndex | None]],
    *,
    defer_index: bool = False,
) -> int:
    """`store_body` for many messages (id, raw, index or None) in one transaction; returns how
    many were stored (a body already local is skipped).

    Engines store a batch with this rather than with `store_body` calls inside their own
    transaction: each nested call would be a savepoint, and releasing one makes SQLite flush
    the full-text index's pending data every time (slow, and memory that grows with the index).
    With `defer_index`, a body given without its index is stored unparsed and indexed later;
    only such a body may come packed already (`body_codec.PackedBody`).
    """
    batch: list[tuple[int, bytes | PackedBody, BodyIndex | None]] = []
    for message_id, raw, index in bodies:
        if index is None and not defer_index:
            if isinstance(raw, PackedBody):
                raise ValueError("a packed body is stored with defer_index")
            index = index_body(raw)
        batch.append((message_id, raw, index))
    stored = 0
    with transaction(conn) as revision:
        for message_id, raw, index in batch:
            row = conn.execute(
                "SELECT body_local FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"message {message_id} is not in the store")
            if row[0]:
                continue
            _insert_body(conn, revision, message_id, raw, index)
            stored += 1
    return stored


def store_partial_body(
    conn: sqlite3.Connection,
    message_id: int,
    raw: bytes,
    omitted: Sequence[OmittedPart],
    index: BodyIndex | None = None,
) -> bool:
    """Keep a message's text without its attachments (schema 2's partial_bodies); True when
    stored.

    `raw` is the message rebuilt from its header, its parts' MIME headers and its text bodies;
    `omitted` the parts whose bodies it lacks. The body text is indexed for search as for a
    full body and the message is marked as having attachments, but `body_local` stays 0: the
    exact bytes are not local. A message whose full body is local is left alone (False); an
    earlier partial body is replaced. A full body stored later removes the partial row in the
    same transaction (`store_bodies`).
    """
    index = index or index_body(raw)
    encoded = json.dumps([dataclasses.asdict(part) for part in omitted], ensure_ascii=False)
    with transaction(conn) as revision:
        row = conn.execute("SELECT body_local FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise StoreError(f"message {message_id} is not in the store")
        if row[0]:
            return False
        conn.execute(
            "INSERT OR REPLACE INTO partial_bodies (message_id, raw, omitted) VALUES (?, ?, ?)",
            (message_id, raw, encoded),
        )
        conn.execute(
            "UPDATE messages SET has_attachments = 1, revision = ? WHERE id = ?",
            (revision, message_id),
        )
        index_entries.set_body(conn, message_id, fold(index.body_text))
    return True


def _check_incoming(item: IncomingMessage) -> None:
    if (item.raw is None) == (item.header_bytes is None):
        raise ValueError("give exactly one of raw or header_bytes")
    if item.uid is not None and item.uidl is not None:
        raise ValueError("a message has a UID (IMAP) or a UIDL (POP3), not both")
    if isinstance(item.raw, PackedBody) and (
        item.parsed is None or (item.uidl is not None and item.content_key is None)
    ):
        raise ValueError("a packed body comes with what is taken from its bytes (parsed, key)")


def parse_raw(raw: bytes) -> ParsedRaw:
    """Parse a whole message for `store_messages` (see IncomingMessage.parsed)."""
    from tuimail.mail.parse import parse_message  # loaded when first needed
    from tuimail.mail.render import search_text  # loaded when first needed

    parsed = parse_message(raw)
    return ParsedRaw(parsed.envelope, search_text(parsed))


def _parse(item: IncomingMessage, defer_index: bool) -> ParsedRaw:
    # The parser (and the email package) is loaded when a message is first stored: a sync that
    # finds nothing new does not pay for it.
    from tuimail.mail.headers import parse_envelope

    if item.raw is not None:
        if item.parsed is not None:
            return item.parsed
        assert isinstance(item.raw, bytes)  # a packed body comes parsed (_check_incoming)
        if defer_index:  # the header section alone (parse_envelope stops there)
            return ParsedRaw(parse_envelope(item.raw), None)
        return parse_raw(item.raw)
    assert item.header_bytes is not None
    return ParsedRaw(parse_envelope(item.header_bytes), "")


def _next_message_id(conn: sqlite3.Connection) -> int:
    """The id the next message stored gets (ids are never reused: past the highest ever
    given). Given in the insert, it also names a new conversation there, which an update of the
    row just stored did before (its indexes and the conversation counts written twice)."""
    row = conn.execute(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),"
        " coalesce((SELECT max(id) FROM messages), 0))"
    ).fetchone()
    return int(row[0]) + 1


def _folder_key(conn: sqlite3.Connection, folder_id: int) -> tuple[int, int]:
    row = conn.execute(
        "SELECT account_id, coalesce(uidvalidity, 0) FROM folders WHERE id = ?", (folder_id,)
    ).fetchone()
    if row is None:
        raise StoreError(f"folder {folder_id} is not in the store")
    return int(row[0]), int(row[1])


def _existing(
    conn: sqlite3.Connection,
    folder_id: int,
    account_id: int,
    uidvalidity: int,
    item: IncomingMessage,
) -> tuple[int, int] | None:
    """(id, body_local) of the row already stored under the item's key, if any."""
    if item.uid is not None:
        row = conn.execute(
            "SELECT id, body_local FROM messages"
            " WHERE folder_id = ? AND uidvalidity = ? AND uid = ?",
            (folder_id, uidvalidity, item.uid),
        ).fetchone()
    elif item.uidl is not None:
        row = conn.execute(
            "SELECT id, body_local FROM messages WHERE account_id = ? AND uidl = ?",
            (account_id, item.uidl),
        ).fetchone()
    else:
        return None
    return None if row is None else (int(row[0]), int(row[1]))


def _store_one(
    conn: sqlite3.Connection,
    revision: int,
    folder_id: int,
    account_id: int,
    uidvalidity: int,
    item: IncomingMessage,
    info: ParsedRaw,
    first_seen: int,
    entries: list[tuple[int, index_entries.Texts]],
    new_id: int,
) -> int:
    """Store one message as `new_id` (or fill in the body of the row already under its key);
    its new full-text entry is added to `entries` for the caller to write after the batch."""
    existing = _existing(conn, folder_id, account_id, uidvalidity, item)
    if existing is not None:
        message_id, body_local = existing
        if item.raw is not None and not body_local:
            index = (
                None
                if info.body_text is None
                else BodyIndex(info.body_text, _attachments(item, info))
            )
            _insert_body(conn, revision, message_id, item.raw, index)
        return message_id

    env = info.envelope
    refs = _thread_refs(env)
    thread_id = _find_thread(conn, revision, account_id, env.message_id, refs)
    date = None if env.date is None else int(env.date.timestamp())
    internaldate = codec.epoch(item.internaldate)
    internal = None if internaldate is None else int(internaldate)
    sort_date = next(d for d in (date, internal, first_seen) if d is not None)
    size = item.size
    if size is None:
        if isinstance(item.raw, PackedBody):
            size = item.raw.size
        else:
            size = len(item.raw) if item.raw is not None else 0
    message_id = conn.execute(
        """
        INSERT INTO messages (
            id, folder_id, account_id, uidvalidity, uid, uidl, message_id, in_reply_to, refs,
            subject, from_addr, to_addr, cc_addr, bcc_addr, reply_to_addr,
            date, internaldate, first_seen, sort_date, from_sort, subject_sort,
            flags, size, has_attachments, thread_id, body_local, revision, index_version
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                  ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        RETURNING id
        """,
        (
            new_id,
            folder_id,
            account_id,
            uidvalidity if item.uid is not None else 0,
            item.uid,
            item.uidl,
            env.message_id,
            env.in_reply_to,
            json.dumps(list(env.references), ensure_ascii=False),
            env.subject,
            codec.encode_addresses(env.from_),
            codec.encode_addresses(env.to),
            codec.encode_addresses(env.cc),
            codec.encode_addresses(env.bcc),
            codec.encode_addresses(env.reply_to),
            date,
            internal,
            first_seen,
            sort_date,
            codec.sender_sort_key(env.from_),
            codec.subject_sort_key(env.subject),
            codec.encode_flags(item.flags),
            size,
            int(_attachments(item, info)),
            new_id if thread_id is None else thread_id,  # a new conversation: named after it
            int(item.raw is not None),
            revision,
            INDEX_VERSION if info.body_text is not None else BODY_NOT_INDEXED,
        ),
    ).fetchall()[0][0]
    conn.executemany(
        "INSERT OR IGNORE INTO message_refs (message_id, account_id, ref) VALUES (?, ?, ?)",
        [(message_id, account_id, ref) for ref in refs],
    )
    entries.append(
        (
            int(message_id),
            (
                fold(env.subject),
                fold(codec.address_search_text(env.from_, env.to, env.cc, env.bcc)),
                fold(info.body_text or ""),
            ),
        )
    )
    if item.raw is not None:
        body_codec.insert(conn, message_id, item.raw)
    if item.uidl is not None:
        keys = [item.uidl]
        if item.content_key is not None:
            keys.append(item.content_key)
        elif isinstance(item.raw, bytes):
            keys.append(pop3_content_key(item.raw))
        conn.executemany(
            "INSERT OR IGNORE INTO pop3_uidls (account_id, uidl, first_seen) VALUES (?, ?, ?)",
            [(account_id, key, first_seen) for key in keys],
        )
    return int(message_id)


def _attachments(item: IncomingMessage, info: ParsedRaw) -> bool:
    if item.has_attachments is not None:
        return item.has_attachments
    return info.envelope.has_attachments


def _insert_body(
    conn: sqlite3.Connection,
    revision: int,
    message_id: int,
    raw: bytes | PackedBody,
    index: BodyIndex | None,
) -> None:
    """Keep the body of a stored message; `index` None: its text is indexed later."""
    body_codec.insert(conn, message_id, raw)
    size = raw.size if isinstance(raw, PackedBody) else len(raw)
    # The exact bytes make a partial body (text without attachments) redundant.
    conn.execute("DELETE FROM partial_bodies WHERE message_id = ?", (message_id,))
    if index is None:
        conn.execute(
            "UPDATE messages SET body_local = 1, revision = ?, index_version = ?,"
            " size = CASE WHEN size = 0 THEN ? ELSE size END WHERE id = ?",
            (revision, BODY_NOT_INDEXED, size, message_id),
        )
        return
    conn.execute(
        "UPDATE messages SET body_local = 1, has_attachments = ?, revision = ?,"
        " size = CASE WHEN size = 0 THEN ? ELSE size END WHERE id = ?",
        (int(index.has_attachments), revision, size, message_id),
    )
    index_entries.set_body(conn, message_id, fold(index.body_text))


def _thread_refs(env: Envelope) -> list[str]:
    """The msg-ids this message points at: the newest References plus In-Reply-To, deduplicated."""
    refs = list(env.references[-MAX_REFS:])
    if env.in_reply_to and env.in_reply_to not in refs:
        refs.append(env.in_reply_to)
    return [ref for ref in dict.fromkeys(refs) if ref and ref != env.message_id]


def _find_thread(
    conn: sqlite3.Connection,
    revision: int,
    account_id: int,
    message_id: str | None,
    refs: Sequence[str],
) -> int | None:
    """The thread a new message joins, merging the threads it connects; None for a new thread.

    Candidates: messages it references or that share its Message-ID (duplicates in other
    folders), and messages that referenced it or the same parents (orphans that arrived before
    it). All are index lookups on (account_id, message_id) and (account_id, ref).
    """
    keys = list(refs)
    if message_id:
        keys.append(message_id)
    if not keys:
        return None
    marks = ",".join("?" * len(keys))
    threads = {
        int(row[0])
        for row in conn.execute(
            f"""
            SELECT thread_id FROM messages WHERE account_id = ? AND message_id IN ({marks})
            UNION
            SELECT m.thread_id FROM message_refs AS r JOIN messages AS m ON m.id = r.message_id
            WHERE r.account_id = ? AND r.ref IN ({marks})
            """,  # noqa: S608 - only placeholders are interpolated
            (account_id, *keys, account_id, *keys),
        )
    }
    if not threads:
        return None
    survivor = min(threads)
    others = sorted(threads - {survivor})
    if others:
        conn.execute(
            f"UPDATE messages SET thread_id = ?, revision = ?"  # noqa: S608 - placeholders only
            f" WHERE thread_id IN ({','.join('?' * len(others))})",
            (survivor, revision, *others),
        )
    return survivor
