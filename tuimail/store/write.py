"""What the protocol engines write: accounts, folders and their sync state, messages, flags,
expunges. Every public function is one committed transaction (or joins the caller's, see
`db.transaction`). Nothing here talks to a server.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Final

from tuimail.core.model import FolderRole, Protocol
from tuimail.store import codec
from tuimail.store.db import StoreError, transaction
from tuimail.store.ingest import (
    IncomingMessage,
    store_bodies,
    store_body,
    store_message,
    store_messages,
    store_partial_body,
)

__all__ = [
    "UNSET",
    "IncomingMessage",
    "assign_uid",
    "delete_account",
    "delete_folder",
    "drop_placeholder",
    "ensure_account",
    "expunge_uids",
    "forget_uidls",
    "record_folder_error",
    "rename_folder",
    "reset_folder",
    "set_flags",
    "set_marked_deleted",
    "store_bodies",
    "store_body",
    "store_message",
    "store_messages",
    "store_partial_body",
    "update_folder_state",
    "upsert_folder",
]


class _Unset(Enum):
    UNSET = "unset"


# "Leave this column as it is", where None means "clear it".
UNSET: Final = _Unset.UNSET

_INCOMING = (Protocol.IMAP, Protocol.POP3)


def ensure_account(
    conn: sqlite3.Connection,
    name: str,
    protocol: Protocol | None,
    *,
    now: datetime | None = None,
) -> int:
    """The id of account `name`, created if new. `protocol` is its incoming protocol, None for
    a local account. An account whose cached mail came over another protocol is refused: its
    folders and keys mean something else.
    """
    if protocol is not None and protocol not in _INCOMING:
        raise ValueError(f"an account's incoming protocol is IMAP or POP3, not {protocol}")
    wanted = None if protocol is None else protocol.value
    # A write transaction even when the account is there: an engine's pass starts here, and a
    # store it cannot write to (locked, a full disk) fails it now, before anything is done on
    # the server that the store could not record.
    with transaction(conn):
        row = conn.execute("SELECT id, protocol FROM accounts WHERE name = ?", (name,)).fetchone()
        if row is not None:
            if row[1] != wanted:
                raise StoreError(
                    f"account {name!r} holds mail downloaded over {row[1] or 'no protocol'}, "
                    f"but is now configured for {wanted or 'no protocol'}; remove its cached "
                    "mail first or give the account another name"
                )
            return int(row[0])
        return int(
            conn.execute(
                "INSERT INTO accounts (name, protocol, created) VALUES (?, ?, ?) RETURNING id",
                (name, wanted, codec.now_epoch(now)),
            ).fetchall()[0][0]
        )


def record_smtp_utf8(conn: sqlite3.Connection, account_id: int, server: str, offered: bool) -> None:
    """Remember whether the account's SMTP server `server` ("host:port") offered SMTPUTF8."""
    with transaction(conn):
        conn.execute(
            "UPDATE accounts SET smtp_server = ?, smtp_utf8 = ? WHERE id = ?",
            (server, int(offered), account_id),
        )


def delete_account(conn: sqlite3.Connection, account_id: int) -> None:
    """Remove an account with its folders, messages, ops and outbox (cascading)."""
    with transaction(conn):
        conn.execute("DELETE FROM accounts WHERE id = ?", (account_id,))


def set_folder_prefix(conn: sqlite3.Connection, account_id: int, prefix: str) -> bool:
    """Record the server's personal namespace prefix ('' for none); True when it changed. The
    account's folders then count as changed (what they show depends on it)."""
    with transaction(conn) as revision:
        row = conn.execute(
            "SELECT folder_prefix FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        if row is None or row[0] == prefix:
            return False
        conn.execute("UPDATE accounts SET folder_prefix = ? WHERE id = ?", (prefix, account_id))
        conn.execute("UPDATE folders SET revision = ? WHERE account_id = ?", (revision, account_id))
        return True


def upsert_folder(
    conn: sqlite3.Connection,
    account_id: int,
    name: str,
    *,
    delimiter: str | None = None,
    role: FolderRole = FolderRole.NONE,
    subscribed: bool | None = None,
) -> int:
    """The id of folder `name` of the account, created if new; delimiter, role and (when not
    None) subscribed are updated."""
    known = conn.execute(
        "SELECT id, delimiter, role, subscribed FROM folders WHERE account_id = ? AND name = ?",
        (account_id, name),
    ).fetchone()
    if (
        known is not None
        and (known[1], known[2]) == (delimiter, role.value)
        and (subscribed is None or known[3] == int(subscribed))
    ):
        return int(known[0])  # as it is: no write transaction (each one is a disk sync)
    with transaction(conn) as revision:
        row = conn.execute(
            "SELECT id, delimiter, role, subscribed FROM folders WHERE account_id = ? AND name = ?",
            (account_id, name),
        ).fetchone()
        flag = None if subscribed is None else int(subscribed)
        if row is None:
            return int(
                conn.execute(
                    "INSERT INTO folders (account_id, name, delimiter, role, subscribed, revision)"
                    " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (account_id, name, delimiter, role.value, flag, revision),
                ).fetchall()[0][0]
            )
        if flag is None:
            flag = row[3]
        if (row[1], row[2], row[3]) != (delimiter, role.value, flag):
            conn.execute(
                "UPDATE folders SET delimiter = ?, role = ?, subscribed = ?, revision = ?"
                " WHERE id = ?",
                (delimiter, role.value, flag, revision, row[0]),
            )
        return int(row[0])


def rename_folder(conn: sqlite3.Connection, folder_id: int, new_name: str) -> None:
    """Follow a folder renamed on the server (its messages stay with it)."""
    with transaction(conn) as revision:
        _require_folder(conn, folder_id)
        conn.execute(
            "UPDATE folders SET name = ?, revision = ? WHERE id = ?",
            (new_name, revision, folder_id),
        )


def delete_folder(conn: sqlite3.Connection, folder_id: int) -> None:
    """Remove a folder and everything in it (cascading); tombstones record what vanished."""
    with transaction(conn):
        conn.execute("DELETE FROM folders WHERE id = ?", (folder_id,))


def update_folder_state(
    conn: sqlite3.Connection,
    folder_id: int,
    *,
    uidvalidity: int | _Unset | None = UNSET,
    uidnext: int | _Unset | None = UNSET,
    highestmodseq: int | _Unset | None = UNSET,
    sync_resume: str | _Unset | None = UNSET,
    last_sync: datetime | _Unset | None = UNSET,
) -> None:
    """Set the given sync-state columns of a folder (UNSET leaves one as it is, None clears).

    UIDVALIDITY can be set once here (when the folder is first selected, before its messages
    are stored); when the server's UIDVALIDITY changes, `reset_folder` drops the stale cache,
    and changing it here raises StoreError.
    """
    values: dict[str, object] = {}
    if uidvalidity is not UNSET:
        values["uidvalidity"] = uidvalidity
    if uidnext is not UNSET:
        values["uidnext"] = uidnext
    if highestmodseq is not UNSET:
        values["highestmodseq"] = highestmodseq
    if sync_resume is not UNSET:
        values["sync_resume"] = sync_resume
    if last_sync is not UNSET:
        values["last_sync"] = codec.epoch(last_sync)
    with transaction(conn) as revision:
        current = _uidvalidity(conn, folder_id)
        if uidvalidity is not UNSET and current not in (0, uidvalidity):
            raise StoreError(
                f"folder {folder_id} caches messages of UIDVALIDITY {current}; reset it to"
                f" change to {uidvalidity}"
            )
        if not values:
            return
        # Column names come from the fixed keys above, never from the caller.
        assignments = ", ".join(f"{column} = ?" for column in values)
        conn.execute(
            f"UPDATE folders SET {assignments}, revision = ? WHERE id = ?",  # noqa: S608
            (*values.values(), revision, folder_id),
        )


def record_folder_error(
    conn: sqlite3.Connection,
    folder_id: int,
    error: str | None,
    *,
    now: datetime | None = None,
) -> None:
    """Remember why the last sync of a folder failed (None: it went well, clear the error)."""
    if error is None:
        row = conn.execute("SELECT last_error FROM folders WHERE id = ?", (folder_id,)).fetchone()
        if row is not None and row[0] is None:
            return  # no error to clear (most syncs): no write transaction, no disk sync
    with transaction(conn) as revision:
        _require_folder(conn, folder_id)
        conn.execute(
            "UPDATE folders SET last_error = ?, last_error_at = ?, revision = ? WHERE id = ?",
            (error, None if error is None else codec.now_epoch(now), revision, folder_id),
        )


def reset_folder(
    conn: sqlite3.Connection,
    folder_id: int,
    uidvalidity: int,
    *,
    mailbox_id: str | _Unset | None = UNSET,
) -> int:
    """The server's UIDVALIDITY changed, or the folder's name now stands for another mailbox:
    drop the cached server messages and the sync state.

    Messages without a UID (local only, not yet on the server) stay. `mailbox_id` is the
    server's MAILBOXID of the mailbox now cached (UNSET keeps the stored one). Returns how many
    cached messages were dropped. Pending ops of the folder are the engine's to fail
    (ops.fail_folder).
    """
    with transaction(conn) as revision:
        _require_folder(conn, folder_id)
        dropped = conn.execute(
            "DELETE FROM messages WHERE folder_id = ? AND uid IS NOT NULL", (folder_id,)
        ).rowcount
        conn.execute(
            "UPDATE folders SET uidvalidity = ?, uidnext = NULL, highestmodseq = NULL,"
            " sync_resume = NULL, revision = ? WHERE id = ?",
            (uidvalidity, revision, folder_id),
        )
        if not isinstance(mailbox_id, _Unset):
            conn.execute("UPDATE folders SET mailbox_id = ? WHERE id = ?", (mailbox_id, folder_id))
        return int(dropped)


def set_mailbox_id(conn: sqlite3.Connection, folder_id: int, mailbox_id: str) -> None:
    """Record the server's MAILBOXID of a folder whose cache it was checked to match."""
    with transaction(conn) as revision:
        conn.execute(
            "UPDATE folders SET mailbox_id = ?, revision = ? WHERE id = ? AND mailbox_id IS NOT ?",
            (mailbox_id, revision, folder_id, mailbox_id),
        )


def set_flags(
    conn: sqlite3.Connection, folder_id: int, flags_by_uid: Mapping[int, Iterable[str | bytes]]
) -> int:
    """Replace the flags of messages by UID (as the server reports them); returns how many rows
    actually changed. Unchanged rows keep their revision, so a flag diff of a large folder only
    wakes the UI for what moved.
    """
    with transaction(conn) as revision:
        uidvalidity = _uidvalidity(conn, folder_id)
        cursor = conn.executemany(
            "UPDATE messages SET flags = ?, revision = ?"
            " WHERE folder_id = ? AND uidvalidity = ? AND uid = ? AND flags IS NOT ?",
            [
                (encoded, revision, folder_id, uidvalidity, uid, encoded)
                for uid, flags in flags_by_uid.items()
                for encoded in (codec.encode_flags(flags),)
            ],
        )
        return max(cursor.rowcount, 0)


def expunge_uids(conn: sqlite3.Connection, folder_id: int, uids: Iterable[int]) -> int:
    """Remove messages the server expunged (VANISHED, or missing from a UID listing)."""
    with transaction(conn):
        uidvalidity = _uidvalidity(conn, folder_id)
        cursor = conn.executemany(
            "DELETE FROM messages WHERE folder_id = ? AND uidvalidity = ? AND uid = ?",
            [(folder_id, uidvalidity, uid) for uid in uids],
        )
        return max(cursor.rowcount, 0)


def set_marked_deleted(
    conn: sqlite3.Connection, folder_id: int, count: int, *, now: datetime | None = None
) -> None:
    """Record how many messages of a folder the server holds marked \\Deleted and not expunged
    (counted where the server has no UIDPLUS; 0 forgets the folder)."""
    with transaction(conn):
        if count <= 0:
            conn.execute("DELETE FROM marked_deleted WHERE folder_id = ?", (folder_id,))
            return
        _require_folder(conn, folder_id)
        conn.execute(
            "INSERT INTO marked_deleted (folder_id, count, checked) VALUES (?, ?, ?)"
            " ON CONFLICT (folder_id) DO UPDATE SET count = excluded.count,"
            " checked = excluded.checked",
            (folder_id, count, codec.now_epoch(now)),
        )


def assign_uid(conn: sqlite3.Connection, message_id: int, uid: int) -> None:
    """Give a locally moved or copied message the UID the server assigned (COPYUID)."""
    with transaction(conn) as revision:
        row = conn.execute("SELECT folder_id FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise StoreError(f"message {message_id} is not in the store")
        uidvalidity = _uidvalidity(conn, int(row[0]))
        conn.execute(
            "UPDATE messages SET uid = ?, uidvalidity = ?, revision = ? WHERE id = ?",
            (uid, uidvalidity, revision, message_id),
        )


def drop_placeholder(conn: sqlite3.Connection, message_id: int) -> None:
    """Remove a moved or copied message's local row that has no UID (yet): the server holds
    the message, and the folder's next sync stores it once. A row with a UID stays."""
    with transaction(conn):
        conn.execute("DELETE FROM messages WHERE id = ? AND uid IS NULL", (message_id,))


def forget_uidls(conn: sqlite3.Connection, account_id: int, uidls: Iterable[str]) -> int:
    """Forget UIDLs the server no longer lists (the local messages stay)."""
    with transaction(conn):
        cursor = conn.executemany(
            "DELETE FROM pop3_uidls WHERE account_id = ? AND uidl = ?",
            [(account_id, uidl) for uidl in uidls],
        )
        return max(cursor.rowcount, 0)


def _require_folder(conn: sqlite3.Connection, folder_id: int) -> None:
    if conn.execute("SELECT 1 FROM folders WHERE id = ?", (folder_id,)).fetchone() is None:
        raise StoreError(f"folder {folder_id} is not in the store")


def _uidvalidity(conn: sqlite3.Connection, folder_id: int) -> int:
    row = conn.execute(
        "SELECT coalesce(uidvalidity, 0) FROM folders WHERE id = ?", (folder_id,)
    ).fetchone()
    if row is None:
        raise StoreError(f"folder {folder_id} is not in the store")
    return int(row[0])
