"""The journal of user actions: applied to the local rows at once, replayed to the server later.

`enqueue` changes the messages in the store and, for an account with an IMAP server, records
what to replay in the same transaction, so the UI shows the result immediately and a crash
leaves either both or neither. Each op targets one source folder; the UIDs are recorded as they
were when queued, because a moved message loses its UID locally until the server assigns one.
Local and POP3 accounts have nothing to replay: their actions are applied and not journaled.

Replay (by the IMAP engine) takes `pending(...)` in id order and ends each op with `mark_done`
or `mark_failed`. Replaying an op twice must be harmless (STORE and UID MOVE are idempotent).
An op given up for good has its local effect settled at once (`_settle`): the store shows what
the server holds, not an action that never happened there.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tuimail.core.model import DELETED, SEEN, Protocol
from tuimail.store import codec, index_entries
from tuimail.store.db import StoreError, transaction


class OpKind(enum.StrEnum):
    """What the user did."""

    FLAG = "flag"  # add a flag (args: flag)
    UNFLAG = "unflag"  # remove a flag (args: flag)
    SEEN = "seen"  # mark read
    UNSEEN = "unseen"  # mark unread
    MOVE = "move"  # to another folder of the account (args: to_folder_id)
    COPY = "copy"  # to another folder (args: to_folder_id, copies)
    DELETE = "delete"  # remove for good: \Deleted, then expunged on the server
    EXPUNGE = "expunge"  # remove the given messages that carry \Deleted (args: folder, below)


class OpState(enum.StrEnum):
    """Where a journal entry stands; done entries are removed."""

    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OpTarget:
    """One message an op applies to: its local id and its UID when queued (None: not known)."""

    message_id: int
    uid: int | None


@dataclass(frozen=True, slots=True)
class PendingOp:
    """A journal entry, as the replay and the sync-health view see it."""

    id: int
    account_id: int
    folder_id: int
    uidvalidity: int
    kind: OpKind
    targets: tuple[OpTarget, ...]
    args: dict[str, Any]
    state: OpState
    attempts: int
    last_error: str | None
    created: datetime
    updated: datetime


def enqueue(
    conn: sqlite3.Connection,
    kind: OpKind,
    message_ids: Iterable[int],
    *,
    flag: str | None = None,
    to_folder_id: int | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Apply an action to messages now and journal it for the server; returns the new op ids.

    `flag` is required for FLAG/UNFLAG, `to_folder_id` for MOVE/COPY (a folder of the same
    account). Messages no longer in the store are skipped. One op is recorded per source folder
    of an account with an IMAP server. Every op records its messages' Message-IDs
    (args message_id_headers, aligned with the targets) and, when one lacks it, their sizes
    (args sizes).
    """
    kind = OpKind(kind)
    _check_args(kind, flag, to_folder_id)
    stamp = codec.now_epoch(now)
    ids = list(dict.fromkeys(message_ids))
    with transaction(conn) as revision:
        by_folder: dict[int, list[tuple[int, int | None, str]]] = {}
        headers: dict[int, str | None] = {}
        sizes: dict[int, int | None] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start : chunk_start + 500]
            for message_id, folder_id, uid, flags, header, size in conn.execute(
                "SELECT id, folder_id, uid, flags, message_id, size FROM messages"  # noqa: S608
                f" WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                by_folder.setdefault(folder_id, []).append((message_id, uid, flags))
                headers[message_id] = header
                sizes[message_id] = size
        # Ops and their targets follow the order the caller gave.
        position = {message_id: index for index, message_id in enumerate(ids)}
        op_ids: list[int] = []
        for folder_id, messages in sorted(
            by_folder.items(), key=lambda item: min(position[m[0]] for m in item[1])
        ):
            account_id, protocol, uidvalidity = _folder_info(conn, folder_id)
            messages.sort(key=lambda m: position[m[0]])
            targets = [OpTarget(m[0], m[1]) for m in messages]
            args: dict[str, Any] = {}
            if flag is not None:
                args["flag"] = flag
            if to_folder_id is not None:
                if _folder_info(conn, to_folder_id)[0] != account_id:
                    raise StoreError("messages move and copy only within their account")
                if to_folder_id == folder_id:
                    continue
                args["to_folder_id"] = to_folder_id
            # What the message is, not only its UID: the replay confirms that each UID still
            # holds the same message before it acts (the folder's name may stand for another
            # mailbox by then), and finds a copy in the target by Message-ID where the server
            # does not tell its UID. The row may be gone by then (deleted meanwhile).
            args["message_id_headers"] = [headers.get(t.message_id) for t in targets]
            if any(headers.get(t.message_id) is None for t in targets):
                args["sizes"] = [sizes.get(t.message_id) for t in targets]
            copies = _apply(conn, revision, kind, messages, flag, to_folder_id, stamp)
            if copies:
                args["copies"] = copies
            if protocol != Protocol.IMAP.value:
                continue
            op_ids.append(
                conn.execute(
                    "INSERT INTO pending_ops (account_id, folder_id, uidvalidity, kind, targets,"
                    " args, created, updated, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " RETURNING id",
                    (
                        account_id,
                        folder_id,
                        uidvalidity,
                        kind.value,
                        json.dumps([[t.message_id, t.uid] for t in targets]),
                        json.dumps(args, ensure_ascii=False),
                        stamp,
                        stamp,
                        revision,
                    ),
                ).fetchall()[0][0]
            )
        return op_ids


def enqueue_folder_expunge(
    conn: sqlite3.Connection, folder_id: int, *, now: datetime | None = None
) -> int | None:
    """Journal a plain EXPUNGE of a whole IMAP folder (args: {"folder": true}, no targets);
    returns the op id, or None for a folder of an account without an IMAP server.

    For servers without UIDPLUS, where UID EXPUNGE of chosen messages is impossible: it removes
    every message of the folder marked \\Deleted, other clients' too, so the user is asked
    first. The stored messages that carry \\Deleted go at once, as the server's will.
    """
    stamp = codec.now_epoch(now)
    with transaction(conn) as revision:
        account_id, protocol, uidvalidity = _folder_info(conn, folder_id)
        if protocol != Protocol.IMAP.value:
            return None
        marked = [
            (int(message_id),)
            for message_id, flags in conn.execute(
                "SELECT id, flags FROM messages WHERE folder_id = ?", (folder_id,)
            )
            if DELETED in codec.decode_flags(flags)
        ]
        conn.executemany("DELETE FROM messages WHERE id = ?", marked)
        return int(
            conn.execute(
                "INSERT INTO pending_ops (account_id, folder_id, uidvalidity, kind, targets,"
                " args, created, updated, revision) VALUES (?, ?, ?, ?, '[]', ?, ?, ?, ?)"
                " RETURNING id",
                (
                    account_id,
                    folder_id,
                    uidvalidity,
                    OpKind.EXPUNGE.value,
                    json.dumps({"folder": True}),
                    stamp,
                    stamp,
                    revision,
                ),
            ).fetchall()[0][0]
        )


def pending(conn: sqlite3.Connection, account_id: int) -> list[PendingOp]:
    """The ops of an account waiting for replay, oldest first."""
    return _list(conn, account_id, OpState.PENDING)


def failed(conn: sqlite3.Connection, account_id: int) -> list[PendingOp]:
    """The ops of an account that were given up, oldest first (the user is shown them)."""
    return _list(conn, account_id, OpState.FAILED)


def get(conn: sqlite3.Connection, op_id: int) -> PendingOp | None:
    """One journal entry as it is now, or None when it is gone."""
    found = _select(conn, "WHERE id = ?", (op_id,))
    return found[0] if found else None


def resolve_placeholder(
    conn: sqlite3.Connection, folder_id: int, row_id: int, uid: int, *, after_op: int
) -> int:
    """Give the later ops that name a row in `folder_id` without a UID the server UID it got
    there from the replay of op `after_op` (the move or copy that put it there).

    A message moved or copied locally has no UID in its new folder until the move is replayed;
    what the user does with it meanwhile (flag it, move it on, delete it) is journaled against
    the new folder with the UID unknown. Once the replay learns the UID, those ops get it, so
    they act on the right server message. Only the ops of this stay in the folder get it (see
    `_stay`): a message moved back into the folder later gets another UID there, from the
    replay of that later move. Returns how many ops were changed.
    """
    changed = 0
    with transaction(conn) as revision:
        for op_id, targets in _stay(conn, folder_id, row_id, after_op)[0]:
            if not any(int(m) == row_id and u is None for m, u in targets):
                continue
            targets = [[m, uid if int(m) == row_id and u is None else u] for m, u in targets]
            conn.execute(
                "UPDATE pending_ops SET targets = ?, revision = ? WHERE id = ?",
                (json.dumps(targets), revision, op_id),
            )
            changed += 1
    return changed


def stays(conn: sqlite3.Connection, folder_id: int, row_id: int, after_op: int) -> bool:
    """Whether a row put in `folder_id` by op `after_op` is still there as far as the journal
    says: no later pending op moves it out or deletes it (then the UID that op's replay gave
    it is the row's own; otherwise the row stands for a later stay, with another UID)."""
    return not _stay(conn, folder_id, row_id, after_op)[1]


def _stay(
    conn: sqlite3.Connection, folder_id: int, row_id: int, after_op: int
) -> tuple[list[tuple[int, list[list[Any]]]], bool]:
    """The pending ops after `after_op` that act on the row during its stay in `folder_id` (id,
    targets), in order, up to and with the first that takes it out (a move or delete); and
    whether the stay ended."""
    found: list[tuple[int, list[list[Any]]]] = []
    for op_id, op_folder, kind, targets_json in conn.execute(
        "SELECT id, folder_id, kind, targets FROM pending_ops"
        " WHERE id > ? AND state = 'pending' ORDER BY id",
        (after_op,),
    ).fetchall():
        targets = json.loads(targets_json)
        if not any(int(m) == row_id for m, _u in targets):
            continue
        if int(op_folder) != folder_id:
            return found, True  # the row is elsewhere by now
        found.append((int(op_id), targets))
        if kind in (OpKind.MOVE.value, OpKind.DELETE.value):
            return found, True
    return found, False


def count_pending(conn: sqlite3.Connection, account_id: int | None = None) -> int:
    """How many ops wait for replay (for the status bar), the folder actions among them
    (store/folder_ops.py)."""
    if account_id is None:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pending_ops WHERE state = 'pending')"
            " + (SELECT count(*) FROM folder_ops WHERE state = 'pending')"
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pending_ops WHERE account_id = ? AND state = 'pending')"
            " + (SELECT count(*) FROM folder_ops WHERE account_id = ? AND state = 'pending')",
            (account_id, account_id),
        ).fetchone()
    return int(row[0])


def mark_done(conn: sqlite3.Connection, op_id: int) -> None:
    """The server has it: remove the journal entry."""
    with transaction(conn):
        conn.execute("DELETE FROM pending_ops WHERE id = ?", (op_id,))


def mark_failed(
    conn: sqlite3.Connection,
    op_id: int,
    error: str,
    *,
    permanent: bool = False,
    source_valid: bool = True,
    now: datetime | None = None,
) -> None:
    """Record a failed replay attempt; `permanent` gives the op up (state failed) and, in the
    same transaction, settles its local effect (see `_settle`). `source_valid`: whether the
    op's UIDs still name its messages in its folder (False: the folder was renumbered, or its
    name stands for another mailbox now)."""
    with transaction(conn) as revision:
        updated = conn.execute(
            "UPDATE pending_ops SET attempts = attempts + 1, last_error = ?, state = ?,"
            " updated = ?, revision = ? WHERE id = ?",
            (
                error,
                OpState.FAILED.value if permanent else OpState.PENDING.value,
                codec.now_epoch(now),
                revision,
                op_id,
            ),
        ).rowcount
        if not updated:
            raise StoreError(f"op {op_id} is not in the journal")
        if permanent:
            (op,) = _select(conn, "WHERE id = ?", (op_id,))
            _settle(conn, revision, op, source_valid=source_valid)


def fail_folder(
    conn: sqlite3.Connection, folder_id: int, error: str, *, now: datetime | None = None
) -> list[PendingOp]:
    """Give up every pending op of a folder (its UIDVALIDITY changed, or its name stands for
    another mailbox now) and settle their local effects; returns the ops given up."""
    with transaction(conn) as revision:
        given_up = _select(
            conn, "WHERE folder_id = ? AND state = 'pending' ORDER BY id", (folder_id,)
        )
        conn.execute(
            "UPDATE pending_ops SET state = 'failed', last_error = ?, updated = ?,"
            " revision = ? WHERE folder_id = ? AND state = 'pending'",
            (error, codec.now_epoch(now), revision, folder_id),
        )
        for op in given_up:
            _settle(conn, revision, op, source_valid=False)
        return given_up


def _settle(conn: sqlite3.Connection, revision: int, op: PendingOp, *, source_valid: bool) -> None:
    """Undo the local effect of an op given up for good, so that the store shows what the
    server holds: the server never carried it out (or, for what it did carry out, the rows
    already have their UIDs and are left alone).

    A moved row still in the target without a UID, that no later pending op names, goes back
    to its source folder under its original UID when that folder still has the op's
    UIDVALIDITY and stands for the same mailbox (`source_valid`), and no row holds that UID
    there already; else it is removed, and the source folder (rebuilt, or resynced as below)
    brings the server's message back. A copy's rows without a UID are removed.

    A row deleted or expunged locally, a row that could not go back, and flags changed locally
    are brought back by the source folder's next sync: its HIGHESTMODSEQ is forgotten, so that
    sync takes the full path, which fetches every UID the store lacks and every message's flags.
    A rebuilt folder is fetched again anyway.
    """
    source = conn.execute(
        "SELECT coalesce(uidvalidity, 0) FROM folders WHERE id = ?", (op.folder_id,)
    ).fetchone()
    in_place = source_valid and source is not None and int(source[0]) == op.uidvalidity != 0
    to_folder = op.args.get("to_folder_id")
    if op.kind is OpKind.MOVE and to_folder is not None:
        for target in op.targets:
            if not _placeholder(conn, target.message_id, int(to_folder), op.id):
                continue
            taken = (
                target.uid is None
                or conn.execute(
                    "SELECT 1 FROM messages WHERE folder_id = ? AND uidvalidity = ? AND uid = ?",
                    (op.folder_id, op.uidvalidity, target.uid),
                ).fetchone()
            )
            if in_place and not taken:
                conn.execute(
                    "UPDATE messages SET folder_id = ?, uid = ?, uidvalidity = ?, revision = ?"
                    " WHERE id = ?",
                    (op.folder_id, target.uid, op.uidvalidity, revision, target.message_id),
                )
            else:
                conn.execute("DELETE FROM messages WHERE id = ?", (target.message_id,))
    elif op.kind is OpKind.COPY and to_folder is not None:
        for copy in op.args.get("copies") or ():
            if _placeholder(conn, int(copy), int(to_folder), op.id):
                conn.execute("DELETE FROM messages WHERE id = ?", (int(copy),))
    if in_place:
        _refresh(conn, revision, op)
    # A row this op named without a UID was put where it is by an earlier move or copy. When
    # that one was given up too, and left the row because this op still named it, the row is
    # settled now: removed (whether it could go back depends on what became of its folder
    # since), and the folder the server's message is in resynced in full.
    for target in op.targets:
        if target.uid is None:
            earlier = _placed_by(conn, op, target.message_id)
            if earlier is not None:
                _settle(conn, revision, earlier, source_valid=False)
                _refresh(conn, revision, earlier)


def _refresh(conn: sqlite3.Connection, revision: int, op: PendingOp) -> None:
    """Make the next sync of the op's folder take the full path, where its cache is still of
    the op's UIDVALIDITY (a rebuilt folder is fetched again anyway)."""
    conn.execute(
        "UPDATE folders SET highestmodseq = NULL, revision = ?"
        " WHERE id = ? AND coalesce(uidvalidity, 0) = ?",
        (revision, op.folder_id, op.uidvalidity),
    )


def _placed_by(conn: sqlite3.Connection, op: PendingOp, row_id: int) -> PendingOp | None:
    """The latest move or copy given up before `op` that put row `row_id` in op's folder."""
    for earlier in _select(
        conn,
        "WHERE account_id = ? AND id < ? AND state = 'failed' AND kind IN (?, ?) ORDER BY id DESC",
        (op.account_id, op.id, OpKind.MOVE.value, OpKind.COPY.value),
    ):
        if int(earlier.args.get("to_folder_id") or 0) != op.folder_id:
            continue
        if earlier.kind is OpKind.MOVE:
            placed = any(t.message_id == row_id for t in earlier.targets)
        else:
            placed = row_id in (int(c) for c in earlier.args.get("copies") or ())
        if placed:
            return earlier
    return None


def _placeholder(conn: sqlite3.Connection, row_id: int, folder_id: int, op_id: int) -> bool:
    """Whether a row that op `op_id` put in `folder_id` is still there without a UID, and no
    later pending op names it (an action on it there, or one that took it on)."""
    row = conn.execute("SELECT folder_id, uid FROM messages WHERE id = ?", (row_id,)).fetchone()
    if row is None or int(row[0]) != folder_id or row[1] is not None:
        return False
    for (targets_json,) in conn.execute(
        "SELECT targets FROM pending_ops WHERE id > ? AND state = 'pending'", (op_id,)
    ):
        if any(int(m) == row_id for m, _u in json.loads(targets_json)):
            return False
    return True


def retry(conn: sqlite3.Connection, op_id: int, *, now: datetime | None = None) -> None:
    """Put a failed op back in the queue (the user asked to try again). Its local effect was
    settled when it was given up: the store shows the server's state until the replay."""
    with transaction(conn) as revision:
        updated = conn.execute(
            "UPDATE pending_ops SET state = 'pending', updated = ?, revision = ?"
            " WHERE id = ? AND state = 'failed'",
            (codec.now_epoch(now), revision, op_id),
        ).rowcount
        if not updated:
            raise StoreError(f"op {op_id} is not a failed op")


def discard(conn: sqlite3.Connection, op_id: int) -> None:
    """Drop a journal entry without replaying it (the local change stays)."""
    mark_done(conn, op_id)


def _check_args(kind: OpKind, flag: str | None, to_folder_id: int | None) -> None:
    needs_flag = kind in (OpKind.FLAG, OpKind.UNFLAG)
    needs_folder = kind in (OpKind.MOVE, OpKind.COPY)
    if needs_flag != (flag is not None):
        raise ValueError(f"{kind.value}: flag is {'required' if needs_flag else 'not accepted'}")
    if needs_flag and (not flag or any(ch.isspace() for ch in flag or "")):
        raise ValueError(f"not a valid flag: {flag!r}")
    if needs_folder != (to_folder_id is not None):
        raise ValueError(
            f"{kind.value}: to_folder_id is {'required' if needs_folder else 'not accepted'}"
        )


def _folder_info(conn: sqlite3.Connection, folder_id: int) -> tuple[int, str | None, int]:
    row = conn.execute(
        "SELECT f.account_id, a.protocol, coalesce(f.uidvalidity, 0)"
        " FROM folders AS f JOIN accounts AS a ON a.id = f.account_id WHERE f.id = ?",
        (folder_id,),
    ).fetchone()
    if row is None:
        raise StoreError(f"folder {folder_id} is not in the store")
    return int(row[0]), row[1], int(row[2])


def _apply(
    conn: sqlite3.Connection,
    revision: int,
    kind: OpKind,
    messages: list[tuple[int, int | None, str]],
    flag: str | None,
    to_folder_id: int | None,
    stamp: float,
) -> list[int]:
    """Change the local rows as the action says; returns new ids for COPY."""
    ids = [m[0] for m in messages]
    if kind in (OpKind.FLAG, OpKind.UNFLAG, OpKind.SEEN, OpKind.UNSEEN):
        name = flag if flag is not None else SEEN
        adding = kind in (OpKind.FLAG, OpKind.SEEN)
        updates = []
        for message_id, _uid, column in messages:
            flags = set(codec.decode_flags(column))
            flags = flags | {name} if adding else flags - {name}
            encoded = codec.encode_flags(flags)
            if encoded != column:
                updates.append((encoded, revision, message_id))
        conn.executemany("UPDATE messages SET flags = ?, revision = ? WHERE id = ?", updates)
        return []
    if kind == OpKind.MOVE:
        conn.executemany(
            "UPDATE messages SET folder_id = ?, uid = NULL, uidvalidity = 0, revision = ?"
            " WHERE id = ?",
            [(to_folder_id, revision, message_id) for message_id in ids],
        )
        return []
    if kind == OpKind.COPY:
        assert to_folder_id is not None
        return [_copy(conn, revision, message_id, to_folder_id, stamp) for message_id in ids]
    if kind == OpKind.DELETE:
        conn.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])
        return []
    # EXPUNGE: only what carries \Deleted goes.
    conn.executemany(
        "DELETE FROM messages WHERE id = ?",
        [(m[0],) for m in messages if DELETED in codec.decode_flags(m[2])],
    )
    return []


_COPIED_COLUMNS = (
    "account_id, message_id, in_reply_to, refs, subject, from_addr, to_addr, cc_addr,"
    " bcc_addr, reply_to_addr, date, internaldate, sort_date, from_sort, subject_sort,"
    " flags, size, has_attachments, thread_id, body_local, index_version"
)


def _copy(
    conn: sqlite3.Connection, revision: int, message_id: int, to_folder_id: int, stamp: float
) -> int:
    """A new row in the target folder with the same envelope, flags, body and index entry."""
    new_id = conn.execute(
        f"INSERT INTO messages (folder_id, first_seen, revision, {_COPIED_COLUMNS})"  # noqa: S608
        f" SELECT ?, ?, ?, {_COPIED_COLUMNS} FROM messages WHERE id = ? RETURNING id",
        (to_folder_id, int(stamp), revision, message_id),
    ).fetchall()[0][0]
    conn.execute(
        "INSERT INTO message_refs (message_id, account_id, ref)"
        " SELECT ?, account_id, ref FROM message_refs WHERE message_id = ?",
        (new_id, message_id),
    )
    conn.execute(
        "INSERT INTO bodies (message_id, raw, codec, dict_id)"
        " SELECT ?, raw, codec, dict_id FROM bodies WHERE message_id = ?",
        (new_id, message_id),
    )
    conn.execute(
        "INSERT INTO partial_bodies (message_id, raw, omitted)"
        " SELECT ?, raw, omitted FROM partial_bodies WHERE message_id = ?",
        (new_id, message_id),
    )
    index_entries.copy(conn, int(new_id), message_id)
    return int(new_id)


def _list(conn: sqlite3.Connection, account_id: int, state: OpState) -> list[PendingOp]:
    return _select(
        conn, "WHERE account_id = ? AND state = ? ORDER BY id", (account_id, state.value)
    )


_SELECT_OPS = (
    "SELECT id, account_id, folder_id, uidvalidity, kind, targets, args, state, attempts,"
    " last_error, created, updated FROM pending_ops "
)


def _select(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> list[PendingOp]:
    return [
        PendingOp(
            id=int(r[0]),
            account_id=int(r[1]),
            folder_id=int(r[2]),
            uidvalidity=int(r[3]),
            kind=OpKind(r[4]),
            targets=tuple(OpTarget(int(m), u) for m, u in json.loads(r[5])),
            args=json.loads(r[6]),
            state=OpState(r[7]),
            attempts=int(r[8]),
            last_error=r[9],
            created=codec.to_datetime(r[10]),
            updated=codec.to_datetime(r[11]),
        )
        for r in conn.execute(_SELECT_OPS + where, params)
    ]
