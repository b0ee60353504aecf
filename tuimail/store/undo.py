"""Undoing the user's last action on messages (a move, a move to Trash, a flag, read/unread).

An action that has not reached the server yet is cancelled: its journal entries are removed and
the local rows put back as they were (a moved message gets its folder and UID back). That is only
safe while no replay can be running, so it happens under the account's sync lock, taken without
waiting; when a sync holds it, or the action has been replayed, or the account has nothing to
replay (local, POP3), the inverse action is queued instead, like any user action: a move back,
the flag changed back. A message moved meanwhile has no UID in its new folder until the move is
replayed; the inverse op names it without one and gets the UID from that replay
(`ops.resolve_placeholder`), so it acts on the server's copy.

A delete for good cannot be undone (the bytes are gone); a copy is not undone here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tuimail.core.model import SEEN, Protocol
from tuimail.store import codec, ops
from tuimail.store.db import transaction
from tuimail.store.lock import AccountLock, LockBusyError

UNDOABLE = (
    ops.OpKind.MOVE,
    ops.OpKind.FLAG,
    ops.OpKind.UNFLAG,
    ops.OpKind.SEEN,
    ops.OpKind.UNSEEN,
)
_INVERSE = {
    ops.OpKind.FLAG: ops.OpKind.UNFLAG,
    ops.OpKind.UNFLAG: ops.OpKind.FLAG,
    ops.OpKind.SEEN: ops.OpKind.UNSEEN,
    ops.OpKind.UNSEEN: ops.OpKind.SEEN,
}


@dataclass(frozen=True, slots=True)
class Done:
    """An action the user did, as `record` saw it: enough to undo it."""

    kind: ops.OpKind
    message_ids: tuple[int, ...]
    account_id: int
    from_folder_id: int
    op_ids: tuple[int, ...]  # its journal entries (none for local and POP3 accounts)
    flag: str | None = None
    to_folder_id: int | None = None
    header_ids: tuple[str, ...] = ()  # the messages' Message-IDs, to find a moved one again


@dataclass(frozen=True, slots=True)
class Undone:
    """What undo did: `cancelled` (never reached the server) or an inverse op queued; the ids of
    the messages as they are now (a moved message may have a new row after the replay)."""

    cancelled: bool
    message_ids: tuple[int, ...]
    missing: int  # messages that could not be found (moved on, deleted since)


def act(
    conn: sqlite3.Connection,
    kind: ops.OpKind,
    message_ids: Iterable[int],
    *,
    flag: str | None = None,
    to_folder_id: int | None = None,
) -> Done | None:
    """`ops.enqueue` the action and return what undoing it needs (None: not undoable, or the
    messages were in several folders: see `act_all`)."""
    done = act_all(conn, kind, message_ids, flag=flag, to_folder_id=to_folder_id)
    return done[0] if len(done) == 1 else None


def act_all(
    conn: sqlite3.Connection,
    kind: ops.OpKind,
    message_ids: Iterable[int],
    *,
    flag: str | None = None,
    to_folder_id: int | None = None,
) -> list[Done]:
    """`ops.enqueue` the action on messages of any folders (one transaction, one op per source
    folder) and return what undoing it needs: one `Done` per source folder ([]: not undoable)."""
    ids = list(dict.fromkeys(message_ids))
    if not ids:
        return []
    before: dict[int, tuple[int, int, str | None]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        before.update(
            (int(r[0]), (int(r[1]), int(r[2]), r[3]))
            for r in conn.execute(
                "SELECT id, folder_id, account_id, message_id FROM messages"  # noqa: S608
                f" WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        )
    op_ids = ops.enqueue(conn, kind, ids, flag=flag, to_folder_id=to_folder_id)
    if kind not in UNDOABLE:
        return []
    op_folders: dict[int, list[int]] = {}
    for op_id in op_ids:
        op = ops.get(conn, op_id)
        if op is not None:
            op_folders.setdefault(op.folder_id, []).append(op_id)
    done: list[Done] = []
    for from_folder_id in dict.fromkeys(before[i][0] for i in ids if i in before):
        if from_folder_id == to_folder_id:
            continue  # nothing moved from there
        members = [i for i in ids if i in before and before[i][0] == from_folder_id]
        done.append(
            Done(
                kind=kind,
                message_ids=tuple(members),
                account_id=before[members[0]][1],
                from_folder_id=from_folder_id,
                op_ids=tuple(op_folders.get(from_folder_id, ())),
                flag=flag,
                to_folder_id=to_folder_id,
                header_ids=tuple(h for i in members if (h := before[i][2])),
            )
        )
    return done


def undo(conn: sqlite3.Connection, done: Done, data_dir: str | Path | None) -> Undone:
    """Undo `done`: cancel it if no server has seen it, else queue its inverse (see above)."""
    lock = None
    account = conn.execute(
        "SELECT name, protocol FROM accounts WHERE id = ?", (done.account_id,)
    ).fetchone()
    if done.op_ids and account is not None and data_dir is not None:
        lock = AccountLock(data_dir, account[0], Protocol.IMAP.value)
        try:
            lock.acquire(0)
        except LockBusyError:
            lock = None  # a sync runs: the op may be on its way; send the inverse
    try:
        if lock is not None and _cancel(conn, done):
            return Undone(True, done.message_ids, 0)
    finally:
        if lock is not None:
            lock.release()
    return _inverse(conn, done)


def _cancel(conn: sqlite3.Connection, done: Done) -> bool:
    """Remove the action's journal entries and put the rows back; False (nothing changed) when
    any entry has left the queue (replayed) or was tried already."""
    with transaction(conn) as revision:
        entries = [ops.get(conn, op_id) for op_id in done.op_ids]
        if any(e is None or e.state is not ops.OpState.PENDING or e.attempts for e in entries):
            return False
        for entry in entries:
            assert entry is not None
            conn.execute("DELETE FROM pending_ops WHERE id = ?", (entry.id,))
            if entry.kind is ops.OpKind.MOVE:
                conn.executemany(
                    "UPDATE messages SET folder_id = ?, uid = ?, uidvalidity = ?, revision = ?"
                    " WHERE id = ? AND folder_id = ? AND uid IS NULL",
                    [
                        (
                            entry.folder_id,
                            target.uid,
                            entry.uidvalidity,
                            revision,
                            target.message_id,
                            done.to_folder_id,
                        )
                        for target in entry.targets
                    ],
                )
                continue
            name = str(entry.args.get("flag") or SEEN)
            adding = entry.kind in (ops.OpKind.UNFLAG, ops.OpKind.UNSEEN)  # the inverse
            for target in entry.targets:
                found = conn.execute(
                    "SELECT flags FROM messages WHERE id = ?", (target.message_id,)
                ).fetchone()
                if found is None:
                    continue
                flags = set(codec.decode_flags(found[0]))
                flags = flags | {name} if adding else flags - {name}
                conn.execute(
                    "UPDATE messages SET flags = ?, revision = ? WHERE id = ?",
                    (codec.encode_flags(flags), revision, target.message_id),
                )
    return True


def _inverse(conn: sqlite3.Connection, done: Done) -> Undone:
    """Queue the inverse of `done` for the messages where they are now."""
    if done.kind is not ops.OpKind.MOVE:
        present = [
            i
            for i in done.message_ids
            if conn.execute("SELECT 1 FROM messages WHERE id = ?", (i,)).fetchone()
        ]
        if present:
            ops.enqueue(conn, _INVERSE[done.kind], present, flag=done.flag)
        return Undone(False, tuple(present), len(done.message_ids) - len(present))
    found = _where_now(conn, done)
    if found:
        ops.enqueue(conn, ops.OpKind.MOVE, found, to_folder_id=done.from_folder_id)
    return Undone(False, tuple(found), len(done.message_ids) - len(found))


def _where_now(conn: sqlite3.Connection, done: Done) -> list[int]:
    """The rows of the moved messages in the folder they were moved to: the same rows when the
    replay kept them (it learned their UIDs), else found by Message-ID (the target's sync stored
    them anew)."""
    found: list[int] = []
    for message_id in done.message_ids:
        row = conn.execute("SELECT folder_id FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is not None and int(row[0]) == done.to_folder_id:
            found.append(message_id)
    if len(found) == len(done.message_ids):
        return found
    for header in done.header_ids:
        for (row_id,) in conn.execute(
            "SELECT id FROM messages WHERE account_id = ? AND folder_id = ? AND message_id = ?"
            " ORDER BY id DESC",
            (done.account_id, done.to_folder_id, header),
        ):
            if row_id not in found:
                found.append(int(row_id))
                break
    return found[: len(done.message_ids)]
