"""Stores as an older tuimail left them, written with SQL alone (today's store code writes
today's form): a schema version, an IMAP account "work" with an INBOX, and messages with their
bodies as they came and their full-text entries unfolded."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

from tuimail.store import db, schema


def _text(raw: bytes) -> tuple[str, str]:
    """A message's subject and (single part) body as text, as the index held them."""
    message = BytesParser(policy=default).parsebytes(raw)
    subject = str(message.get("Subject", ""))
    body = "" if message.is_multipart() else str(message.get_content())
    return subject, body


def store_as_of(data_dir: Path, version: int, messages: Sequence[bytes]) -> list[int]:
    """A store at schema `version` holding `messages` in work/INBOX (UIDs 1, 2, ...); their
    ids, in order."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db.store_path(data_dir), isolation_level=None)
    try:
        assert schema.apply_migrations(conn, target=version) == version
        conn.execute("INSERT INTO accounts (name, protocol, created) VALUES ('work', 'imap', 0)")
        conn.execute(
            "INSERT INTO folders (account_id, name, role, uidvalidity, revision)"
            " VALUES (1, 'INBOX', 'inbox', 7, 0)"
        )
        ids = []
        for uid, raw in enumerate(messages, 1):
            subject, body = _text(raw)
            (message_id,) = conn.execute(
                "INSERT INTO messages (folder_id, account_id, uidvalidity, uid, subject,"
                " first_seen, sort_date, size, thread_id, body_local, revision)"
                " VALUES (1, 1, 7, ?, ?, 0, ?, ?, 0, 1, 0) RETURNING id",
                (uid, subject, uid, len(raw)),
            ).fetchone()
            conn.execute("UPDATE messages SET thread_id = id WHERE id = ?", (message_id,))
            conn.execute("INSERT INTO bodies (message_id, raw) VALUES (?, ?)", (message_id, raw))
            conn.execute(
                "INSERT INTO messages_fts (rowid, subject, addresses, body) VALUES (?, ?, '', ?)",
                (message_id, subject, body),
            )
            ids.append(int(message_id))
        return ids
    finally:
        conn.close()
