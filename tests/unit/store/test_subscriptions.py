"""Folder subscriptions in the store: the user's subscribe and unsubscribe change the folder at
once and are journaled for the replay; the server's list sets them; a store of schema 8 keeps
its waiting folder ops when it gains the column."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tuimail.core.model import FolderRole, Protocol
from tuimail.store import db, folder_ops, ops, read, schema, write
from tuimail.store.folder_ops import FolderOpError, FolderOpKind


def subscribed(conn: db.StoreConnection, folder_id: int) -> bool | None:
    info = read.folder(conn, folder_id)
    assert info is not None
    return info.subscribed


def test_subscribe_and_unsubscribe_change_the_folder_at_once_and_journal_the_last(
    conn: db.StoreConnection, imap_account: int
) -> None:
    old = write.upsert_folder(conn, imap_account, "Old", delimiter="/", subscribed=False)
    assert subscribed(conn, old) is False

    assert folder_ops.subscribe(conn, old, True) is True
    assert subscribed(conn, old) is True
    (op,) = folder_ops.pending(conn, imap_account)
    assert (op.kind, op.name, op.folder_id) == (FolderOpKind.SUBSCRIBE, "Old", old)
    assert ops.count_pending(conn, imap_account) == 1, "the status bar counts it"
    assert folder_ops.waiting_subscriptions(conn, imap_account) == {"Old": True}

    # Changed back before the replay: only what the user wants now is left to send.
    folder_ops.subscribe(conn, old, False)
    (op,) = folder_ops.pending(conn, imap_account)
    assert op.kind is FolderOpKind.UNSUBSCRIBE
    assert subscribed(conn, old) is False
    assert folder_ops.waiting_subscriptions(conn, imap_account) == {"Old": False}
    # Not a name the folder list must keep or drop.
    assert folder_ops.waiting_names(conn, imap_account) == (set(), set())

    folder_ops.mark_done(conn, op.id)
    assert folder_ops.waiting_subscriptions(conn, imap_account) == {}


def test_the_inbox_stays_subscribed_and_folders_without_a_server_have_no_subscriptions(
    conn: db.StoreConnection, imap_account: int
) -> None:
    inbox = write.upsert_folder(conn, imap_account, "INBOX", role=FolderRole.INBOX)
    with pytest.raises(FolderOpError, match="always subscribed"):
        folder_ops.subscribe(conn, inbox, False)
    for name, protocol in (("here", None), ("pop", Protocol.POP3)):
        account = write.ensure_account(conn, name, protocol)
        folder = folder_ops.create(conn, account, "Kept")
        assert subscribed(conn, folder) is None, "not known: no server keeps it"
        with pytest.raises(FolderOpError, match="IMAP"):
            folder_ops.subscribe(conn, folder, True)
    assert folder_ops.pending(conn, imap_account) == []


def test_a_folder_created_here_is_subscribed_and_unknown_keeps_what_was_known(
    conn: db.StoreConnection, imap_account: int
) -> None:
    made = folder_ops.create(conn, imap_account, "Projects")
    assert subscribed(conn, made) is True, "the replay's CREATE subscribes it"
    # A folder list whose subscriptions the server would not give leaves them as they were.
    write.upsert_folder(conn, imap_account, "Projects", subscribed=None)
    assert subscribed(conn, made) is True
    write.upsert_folder(conn, imap_account, "Projects", subscribed=False)
    assert subscribed(conn, made) is False


def test_a_version_8_store_keeps_its_waiting_folder_ops_and_their_ids(tmp_path: Path) -> None:
    """Schema 9 adds folders.subscribed and rebuilds folder_ops for the new kinds: the ops
    waiting stay, in order, and a new op never takes an id an old one had."""
    path = tmp_path / db.DB_FILENAME
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        assert schema.apply_migrations(raw, target=8) == 8
        raw.execute("INSERT INTO accounts (name, protocol, created) VALUES ('old', 'imap', 0)")
        raw.execute("INSERT INTO folders (account_id, name, revision) VALUES (1, 'Work', 0)")
        for kind, name in (("create_folder", "A"), ("rename_folder", "B"), ("delete_folder", "C")):
            raw.execute(
                "INSERT INTO folder_ops (account_id, folder_id, kind, name, created, updated,"
                " revision) VALUES (1, 1, ?, ?, 0, 0, 0)",
                (kind, name),
            )
        raw.execute("DELETE FROM folder_ops WHERE name = 'C'")  # done: the counter stays at 3
    finally:
        raw.close()
    conn = db.connect(path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        account = read.account_id(conn, "old")
        assert account is not None
        kept = folder_ops.pending(conn, account)
        assert [(op.id, op.kind, op.name) for op in kept] == [
            (1, FolderOpKind.CREATE, "A"),
            (2, FolderOpKind.RENAME, "B"),
        ]
        work = read.find_folder(conn, account, "Work")
        assert work is not None and work.subscribed is None, "not known until the next list"
        folder_ops.subscribe(conn, work.id, True)
        newest = folder_ops.pending(conn, account)[-1]
        assert newest.kind is FolderOpKind.SUBSCRIBE and newest.id == 4
    finally:
        conn.close()
