"""The user's folder actions: create, rename and delete a folder, applied to the store at once
and, for an account with an IMAP server, journaled (table folder_ops) for the replay.

The folder pane shows the result at once, offline too. The IMAP replay carries each op out
before the message ops (`sync/imap/folder_replay.py`) and ends it with `mark_done` or
`mark_failed`; one given up for good is settled here (`_settle`): a rename is taken back, a
folder whose CREATE failed goes (unless the server has one of that name), and a folder whose
DELETE failed comes back with the next folder list (it is the server's). A rename keeps the
folder's row, so its cached messages stay and the message ops queued before it still apply
(they name the folder by id). CREATE subscribes the new folder; DELETE removes it with its
messages on the server. A subscribe or unsubscribe sets `folders.subscribed` at once; the
server's folder list does not undo it while the op waits, and one given up leaves the next
list to say what the server has.

Local and POP3 accounts have nothing to replay: their folders exist only here.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tuimail.core.model import FolderRole, Protocol
from tuimail.store import codec
from tuimail.store.db import StoreError, transaction

MAX_NAME_BYTES = 255  # of a full folder name in UTF-8 (servers refuse longer ones, or worse)
LOCAL_DELIMITER = "/"  # where the account's folders do not say (a local or POP3 account)
# Characters a folder name may not hold: IMAP's LIST wildcards, and the quote and backslash
# that some servers refuse in names.
_RESERVED = frozenset('*%"\\')


class FolderOpKind(enum.StrEnum):
    """What the user did to a folder."""

    CREATE = "create_folder"
    RENAME = "rename_folder"
    DELETE = "delete_folder"
    SUBSCRIBE = "subscribe_folder"
    UNSUBSCRIBE = "unsubscribe_folder"


SUBSCRIPTION_KINDS = (FolderOpKind.SUBSCRIBE, FolderOpKind.UNSUBSCRIBE)


@dataclass(frozen=True, slots=True)
class FolderOp:
    """A journal entry of a folder action, as the replay sees it."""

    id: int
    account_id: int
    folder_id: int
    kind: FolderOpKind
    name: str
    new_name: str | None
    args: dict[str, Any]
    attempts: int
    last_error: str | None


class FolderOpError(ValueError):
    """The action cannot be done; the message says why, in words for the user."""


def delimiter_of(conn: sqlite3.Connection, account_id: int) -> str:
    """The account's hierarchy delimiter: the one its folders were listed with, else "/"."""
    row = conn.execute(
        "SELECT delimiter FROM folders WHERE account_id = ? AND delimiter IS NOT NULL"
        " ORDER BY upper(name) = 'INBOX' DESC LIMIT 1",
        (account_id,),
    ).fetchone()
    return str(row[0]) if row is not None and row[0] else LOCAL_DELIMITER


def full_name(conn: sqlite3.Connection, account_id: int, typed: str) -> str:
    """The full server name of a folder the user names as shown (without the server's personal
    namespace prefix, "INBOX." on Cyrus and Courier), refused with a FolderOpError when it is
    not a valid name: empty, only delimiters, an empty level, too long, control characters."""
    delimiter = delimiter_of(conn, account_id)
    if not typed or not typed.strip():
        raise FolderOpError("A folder needs a name.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in typed):
        raise FolderOpError("A folder name cannot hold control characters.")
    reserved = sorted(ch for ch in set(typed) & _RESERVED if ch != delimiter)
    if reserved:
        raise FolderOpError(f"A folder name cannot hold {' or '.join(reserved)}.")
    levels = typed.split(delimiter)
    if any(not level.strip() for level in levels):
        raise FolderOpError(
            f"Each level of a folder name needs a name: no empty level, and no {delimiter}"
            " at its start or end."
        )
    if any(level != level.strip() for level in levels):
        raise FolderOpError("A folder name cannot begin or end with a space.")
    prefix = _prefix(conn, account_id)
    name = typed if typed.upper() == "INBOX" or typed.startswith(prefix) else prefix + typed
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise FolderOpError(f"That name is too long (at most {MAX_NAME_BYTES} bytes).")
    return name


def create(
    conn: sqlite3.Connection, account_id: int, typed: str, *, now: datetime | None = None
) -> int:
    """Make a folder `typed` (as shown: a name with the delimiter makes a subfolder) and journal
    its CREATE; returns its id. FolderOpError when it cannot be."""
    name = full_name(conn, account_id, typed)
    with transaction(conn) as revision:
        if _taken(conn, account_id, name):
            raise FolderOpError(f"There is a folder {typed} already.")
        delimiter = delimiter_of(conn, account_id)
        folder_id = int(
            conn.execute(
                "INSERT INTO folders (account_id, name, delimiter, subscribed, revision)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                # CREATE subscribes the folder (folder_replay); not known where no server is.
                (account_id, name, delimiter, _imap_flag(conn, account_id), revision),
            ).fetchall()[0][0]
        )
        _journal(conn, revision, account_id, folder_id, FolderOpKind.CREATE, name, None, {}, now)
        return folder_id


def rename(
    conn: sqlite3.Connection, folder_id: int, typed: str, *, now: datetime | None = None
) -> str:
    """Rename a folder to `typed` (as shown), its subfolders with it, keeping its messages;
    journal the RENAME. Returns the new full name. FolderOpError when it cannot be: INBOX and
    the special folders (Sent, Drafts, Trash, Junk, Archive) keep their names."""
    with transaction(conn) as revision:
        folder = _folder(conn, folder_id)
        _refuse_special(folder, "renamed")
        account_id, old = folder["account_id"], folder["name"]
        name = full_name(conn, account_id, typed)
        if name == old:
            raise FolderOpError("That is its name already.")
        delimiter = delimiter_of(conn, account_id)
        if name.startswith(old + delimiter):
            raise FolderOpError("A folder cannot move into itself.")
        if _taken(conn, account_id, name):
            raise FolderOpError(f"There is a folder {typed} already.")
        _rename_tree(conn, revision, account_id, old, name, delimiter)
        args = _identity(conn, folder_id)
        _journal(conn, revision, account_id, folder_id, FolderOpKind.RENAME, old, name, args, now)
        return name


def check_rename(conn: sqlite3.Connection, folder_id: int) -> None:
    """FolderOpError when the folder keeps its name: INBOX and the special folders."""
    _refuse_special(_folder(conn, folder_id), "renamed")


def check_delete(conn: sqlite3.Connection, folder_id: int) -> int:
    """How many messages deleting the folder takes with it; FolderOpError when it cannot be
    deleted: a special folder, one with subfolders, one whose messages wait to be moved or
    copied out of it (that needs the folder on the server)."""
    folder = _folder(conn, folder_id)
    _refuse_special(folder, "deleted")
    delimiter = delimiter_of(conn, folder["account_id"])
    below = conn.execute(
        "SELECT count(*) FROM folders WHERE account_id = ? AND substr(name, 1, ?) = ?",
        (folder["account_id"], len(folder["name"]) + len(delimiter), folder["name"] + delimiter),
    ).fetchone()[0]
    if below:
        raise FolderOpError(
            f"It holds {below} folder{'s' if below != 1 else ''}: delete or move them first."
        )
    waiting = conn.execute(
        "SELECT count(*) FROM pending_ops WHERE folder_id = ? AND state = 'pending'"
        " AND kind IN ('move', 'copy')",
        (folder_id,),
    ).fetchone()[0]
    if waiting:
        raise FolderOpError(
            "Messages moved or copied out of it have not reached the server yet; delete it"
            " once they have."
        )
    return int(folder["total"])


def delete(conn: sqlite3.Connection, folder_id: int, *, now: datetime | None = None) -> int:
    """Delete a folder with its messages (asked first: see `check_delete`) and journal the
    DELETE; returns how many messages went with it. The other pending actions on its messages
    go with it (nothing is left to act on)."""
    with transaction(conn) as revision:
        count = check_delete(conn, folder_id)
        folder = _folder(conn, folder_id)
        args = _identity(conn, folder_id)
        # Messages deleted here whose delete has not reached the server are still there: they
        # were shown, and go with the folder.
        for (targets,) in conn.execute(
            "SELECT targets FROM pending_ops WHERE folder_id = ? AND state = 'pending'"
            " AND kind IN ('delete', 'expunge')",
            (folder_id,),
        ):
            args["known"] += sum(1 for _row, uid in json.loads(targets) if uid is not None)
        conn.execute("DELETE FROM folders WHERE id = ?", (folder_id,))
        _journal(
            conn,
            revision,
            folder["account_id"],
            folder_id,
            FolderOpKind.DELETE,
            folder["name"],
            None,
            args,
            now,
        )
        return count


def subscribe(
    conn: sqlite3.Connection, folder_id: int, subscribed: bool, *, now: datetime | None = None
) -> bool:
    """Subscribe to a folder of an IMAP account (`subscribed`) or unsubscribe from it, and
    journal the (UN)SUBSCRIBE; returns `subscribed`. An earlier one of the folder still
    waiting is dropped (this one says what the user wants now). FolderOpError for a folder
    without a server (local, POP3) and for the inbox, which is always subscribed."""
    with transaction(conn) as revision:
        folder = _folder(conn, folder_id)
        if folder["protocol"] != Protocol.IMAP.value:
            raise FolderOpError("Only the folders of an IMAP account have subscriptions.")
        if not subscribed and (
            folder["name"].upper() == "INBOX" or folder["role"] == FolderRole.INBOX.value
        ):
            raise FolderOpError("The inbox is always subscribed.")
        conn.execute(
            "UPDATE folders SET subscribed = ?, revision = ? WHERE id = ?",
            (int(subscribed), revision, folder_id),
        )
        conn.execute(
            "DELETE FROM folder_ops WHERE folder_id = ? AND state = 'pending' AND kind IN (?, ?)",
            (folder_id, *(kind.value for kind in SUBSCRIPTION_KINDS)),
        )
        kind = FolderOpKind.SUBSCRIBE if subscribed else FolderOpKind.UNSUBSCRIBE
        _journal(
            conn, revision, folder["account_id"], folder_id, kind, folder["name"], None, {}, now
        )
        return subscribed


def waiting_subscriptions(conn: sqlite3.Connection, account_id: int) -> dict[str, bool]:
    """The subscriptions the user changed that the server may not have yet: full name ->
    subscribed. The folder list must not undo them."""
    return {
        op.name: op.kind is FolderOpKind.SUBSCRIBE
        for op in pending(conn, account_id)
        if op.kind in SUBSCRIPTION_KINDS
    }


def pending(conn: sqlite3.Connection, account_id: int) -> list[FolderOp]:
    """The folder ops of an account waiting for replay, oldest first."""
    return _select(conn, "WHERE account_id = ? AND state = 'pending' ORDER BY id", (account_id,))


def failed(conn: sqlite3.Connection, account_id: int) -> list[FolderOp]:
    """The folder ops of an account given up, oldest first."""
    return _select(conn, "WHERE account_id = ? AND state = 'failed' ORDER BY id", (account_id,))


def waiting_names(conn: sqlite3.Connection, account_id: int) -> tuple[set[str], set[str]]:
    """What the folder list must not undo while folder ops wait: the names made here (created,
    renamed to) that the server does not list yet, and the names gone here (renamed from,
    deleted) that it still lists."""
    made: set[str] = set()
    gone: set[str] = set()
    for op in pending(conn, account_id):
        if op.kind in SUBSCRIPTION_KINDS:
            continue
        if op.kind is FolderOpKind.CREATE:
            made.add(op.name)
            gone.discard(op.name)
        elif op.kind is FolderOpKind.RENAME and op.new_name is not None:
            gone.add(op.name)
            made.discard(op.name)
            made.add(op.new_name)
            gone.discard(op.new_name)
        else:
            gone.add(op.name)
            made.discard(op.name)
    return made, gone


def mark_sent(conn: sqlite3.Connection, op_id: int) -> None:
    """The op's command is about to be sent: a replay after a crash finds its result there."""
    with transaction(conn) as revision:
        row = conn.execute("SELECT args FROM folder_ops WHERE id = ?", (op_id,)).fetchone()
        if row is None:
            raise StoreError(f"folder op {op_id} is not in the journal")
        args = json.loads(row[0])
        args["sent"] = True
        conn.execute(
            "UPDATE folder_ops SET args = ?, revision = ? WHERE id = ?",
            (json.dumps(args, ensure_ascii=False), revision, op_id),
        )


def mark_done(conn: sqlite3.Connection, op_id: int) -> None:
    """The server has it: remove the journal entry."""
    with transaction(conn):
        conn.execute("DELETE FROM folder_ops WHERE id = ?", (op_id,))


def mark_failed(
    conn: sqlite3.Connection,
    op_id: int,
    error: str,
    *,
    permanent: bool = False,
    on_server: bool = False,
    now: datetime | None = None,
) -> None:
    """Record a failed replay attempt; `permanent` gives the op up and settles its local effect
    in the same transaction (see the module). `on_server`: whether the server has a folder of
    the name a given-up CREATE made (then the row stays: it stands for that folder)."""
    with transaction(conn) as revision:
        updated = conn.execute(
            "UPDATE folder_ops SET attempts = attempts + 1, last_error = ?, state = ?,"
            " updated = ?, revision = ? WHERE id = ?",
            (error, "failed" if permanent else "pending", codec.now_epoch(now), revision, op_id),
        ).rowcount
        if not updated:
            raise StoreError(f"folder op {op_id} is not in the journal")
        if permanent:
            (op,) = _select(conn, "WHERE id = ?", (op_id,))
            _settle(conn, revision, op, on_server=on_server)


def _settle(conn: sqlite3.Connection, revision: int, op: FolderOp, *, on_server: bool) -> None:
    """Take back the local effect of a folder op the server never carried out."""
    if op.kind is FolderOpKind.CREATE and not on_server:
        # Messages moved into it meanwhile go with it; their moves are given up in turn (no
        # target), and their source folders bring them back.
        conn.execute("DELETE FROM folders WHERE id = ? AND name = ?", (op.folder_id, op.name))
    elif (
        op.kind is FolderOpKind.RENAME
        and op.new_name is not None
        and not _taken(conn, op.account_id, op.name)
    ):
        delimiter = delimiter_of(conn, op.account_id)
        _rename_tree(conn, revision, op.account_id, op.new_name, op.name, delimiter)
    # A delete: the folder list of the next pass brings the server's folder back.


def _rename_tree(
    conn: sqlite3.Connection, revision: int, account_id: int, old: str, new: str, delimiter: str
) -> None:
    """Rename folder `old` and every folder below it (as IMAP's RENAME does)."""
    conn.execute(
        "UPDATE folders SET name = ? || substr(name, ?), revision = ?"
        " WHERE account_id = ? AND (name = ? OR substr(name, 1, ?) = ?)",
        (new, len(old) + 1, revision, account_id, old, len(old) + len(delimiter), old + delimiter),
    )


def _identity(conn: sqlite3.Connection, folder_id: int) -> dict[str, Any]:
    """What the folder's name stands for on the server as the store knows it: UIDVALIDITY,
    MAILBOXID and the UIDNEXT the store has seen (a higher one: mail came since)."""
    row = conn.execute(
        "SELECT uidvalidity, mailbox_id, uidnext,"
        " (SELECT max(uid) FROM messages WHERE folder_id = folders.id),"
        " (SELECT count(uid) FROM messages WHERE folder_id = folders.id)"
        " FROM folders WHERE id = ?",
        (folder_id,),
    ).fetchone()
    uidnext = max(int(row[2] or 0), int(row[3] or 0) + 1) if row[0] else None
    # How many of its server messages the store holds: a server with more (a first sync not
    # done yet) has messages the user was not told would go.
    return {"uidvalidity": row[0], "mailbox_id": row[1], "uidnext": uidnext, "known": row[4]}


def _refuse_special(folder: dict[str, Any], done: str) -> None:
    role = FolderRole(folder["role"] or "")
    if folder["name"].upper() == "INBOX" or role is FolderRole.INBOX:
        raise FolderOpError(f"The inbox cannot be {done}.")
    if role is not FolderRole.NONE:
        raise FolderOpError(
            f"The {role.value.capitalize()} folder cannot be {done}: the account keeps"
            f" {role.value} mail there."
        )


def _taken(conn: sqlite3.Connection, account_id: int, name: str) -> bool:
    if name.upper() == "INBOX":
        return True
    return (
        conn.execute(
            "SELECT 1 FROM folders WHERE account_id = ? AND name = ?", (account_id, name)
        ).fetchone()
        is not None
    )


def _imap_flag(conn: sqlite3.Connection, account_id: int) -> int | None:
    """1 for an account with an IMAP server, else None (its folders have no subscriptions)."""
    row = conn.execute("SELECT protocol FROM accounts WHERE id = ?", (account_id,)).fetchone()
    return 1 if row is not None and row[0] == Protocol.IMAP.value else None


def _prefix(conn: sqlite3.Connection, account_id: int) -> str:
    row = conn.execute("SELECT folder_prefix FROM accounts WHERE id = ?", (account_id,)).fetchone()
    return "" if row is None or row[0] is None else str(row[0])


def _folder(conn: sqlite3.Connection, folder_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT f.account_id, f.name, f.role, f.total, a.protocol FROM folders AS f"
        " JOIN accounts AS a ON a.id = f.account_id WHERE f.id = ?",
        (folder_id,),
    ).fetchone()
    if row is None:
        raise FolderOpError("That folder is no longer there.")
    return {
        "account_id": int(row[0]),
        "name": str(row[1]),
        "role": row[2],
        "total": int(row[3]),
        "protocol": row[4],
    }


def _journal(
    conn: sqlite3.Connection,
    revision: int,
    account_id: int,
    folder_id: int,
    kind: FolderOpKind,
    name: str,
    new_name: str | None,
    args: dict[str, Any],
    now: datetime | None,
) -> None:
    """Record the op for the replay, for an account with an IMAP server only."""
    protocol = conn.execute("SELECT protocol FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if protocol is None or protocol[0] != Protocol.IMAP.value:
        return
    stamp = codec.now_epoch(now)
    conn.execute(
        "INSERT INTO folder_ops (account_id, folder_id, kind, name, new_name, args, created,"
        " updated, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            account_id,
            folder_id,
            kind.value,
            name,
            new_name,
            json.dumps(args, ensure_ascii=False),
            stamp,
            stamp,
            revision,
        ),
    )


_SELECT_FOLDER_OPS = (
    "SELECT id, account_id, folder_id, kind, name, new_name, args, attempts, last_error"
    " FROM folder_ops "
)


def _select(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> list[FolderOp]:
    return [
        FolderOp(
            id=int(r[0]),
            account_id=int(r[1]),
            folder_id=int(r[2]),
            kind=FolderOpKind(r[3]),
            name=str(r[4]),
            new_name=r[5],
            args=json.loads(r[6]),
            attempts=int(r[7]),
            last_error=r[8],
        )
        for r in conn.execute(
            _SELECT_FOLDER_OPS + where,
            params,
        )
    ]
