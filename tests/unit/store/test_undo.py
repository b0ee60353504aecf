"""Undo of the last action: cancelled before the replay, the inverse queued after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.mailfactory import make_message
from tuimail.core.model import FLAGGED, FolderRole
from tuimail.store import db, ops, read, undo, write


@pytest.fixture
def trash(conn: db.StoreConnection, imap_account: int) -> int:
    folder = write.upsert_folder(conn, imap_account, "Trash", role=FolderRole.TRASH)
    write.update_folder_state(conn, folder, uidvalidity=9)
    return folder


@pytest.fixture
def message(conn: db.StoreConnection, inbox: int) -> int:
    [message_id] = write.store_messages(
        conn, inbox, [write.IncomingMessage(raw=make_message(message_id="m@x"), uid=4)]
    )
    return message_id


def test_a_flag_not_yet_replayed_is_cancelled(
    conn: db.StoreConnection, data_dir: Path, message: int
) -> None:
    done = undo.act(conn, ops.OpKind.FLAG, [message], flag=FLAGGED)
    assert done is not None and ops.count_pending(conn) == 1
    result = undo.undo(conn, done, data_dir)
    assert result.cancelled and ops.count_pending(conn) == 0
    assert FLAGGED not in read.row(conn, message).flags


def test_a_replayed_flag_is_undone_by_its_inverse(
    conn: db.StoreConnection, data_dir: Path, message: int
) -> None:
    done = undo.act(conn, ops.OpKind.FLAG, [message], flag=FLAGGED)
    assert done is not None
    ops.mark_done(conn, done.op_ids[0])
    result = undo.undo(conn, done, data_dir)
    assert not result.cancelled
    [inverse] = ops.pending(conn, done.account_id)
    assert inverse.kind is ops.OpKind.UNFLAG and inverse.targets[0].uid == 4
    assert FLAGGED not in read.row(conn, message).flags


def test_a_move_whose_row_the_replay_dropped_is_found_by_message_id(
    conn: db.StoreConnection, data_dir: Path, inbox: int, trash: int, message: int
) -> None:
    done = undo.act(conn, ops.OpKind.MOVE, [message], to_folder_id=trash)
    assert done is not None
    # The replay learned no UID: it dropped the local row, and Trash's sync stored the message
    # anew (UID 50), as a server without UIDPLUS makes it.
    ops.mark_done(conn, done.op_ids[0])
    ops.enqueue(conn, ops.OpKind.DELETE, [message])  # the row goes (its journal entry too)
    for op in ops.pending(conn, done.account_id):
        ops.discard(conn, op.id)
    [stored] = write.store_messages(
        conn, trash, [write.IncomingMessage(raw=make_message(message_id="m@x"), uid=50)]
    )
    result = undo.undo(conn, done, data_dir)
    assert not result.cancelled and result.message_ids == (stored,)
    [back] = ops.pending(conn, done.account_id)
    assert back.kind is ops.OpKind.MOVE and back.folder_id == trash
    assert back.args["to_folder_id"] == inbox
    assert [(t.message_id, t.uid) for t in back.targets] == [(stored, 50)]
    assert read.row(conn, stored).folder_id == inbox


def test_a_delete_for_good_is_not_undoable(conn: db.StoreConnection, message: int) -> None:
    assert undo.act(conn, ops.OpKind.DELETE, [message]) is None


def test_act_all_on_two_folders_is_one_op_and_one_undo_entry_each(
    conn: db.StoreConnection, data_dir: Path, inbox: int, trash: int, message: int
) -> None:
    """Marked messages of two folders (a unified inbox, a search): one transaction, one op per
    folder naming all of its messages, and each folder's entry undone on its own."""
    others = write.store_messages(
        conn,
        inbox,
        [write.IncomingMessage(raw=make_message(message_id="n@x"), uid=5)],
    )
    in_trash = write.store_messages(
        conn, trash, [write.IncomingMessage(raw=make_message(message_id="t@x"), uid=7)]
    )
    ids = [message, *others, *in_trash]
    done = undo.act_all(conn, ops.OpKind.FLAG, ids, flag=FLAGGED)
    assert [d.from_folder_id for d in done] == [inbox, trash]
    assert [sorted(d.message_ids) for d in done] == [sorted([message, *others]), in_trash]
    pending = ops.pending(conn, done[0].account_id)
    assert [(op.folder_id, sorted(t.uid for t in op.targets)) for op in pending] == [
        (inbox, [4, 5]),
        (trash, [7]),
    ]
    assert [d.op_ids for d in done] == [(pending[0].id,), (pending[1].id,)]
    assert all(undo.undo(conn, entry, data_dir).cancelled for entry in done)
    assert ops.count_pending(conn) == 0
    assert not any(FLAGGED in row.flags for row in read.rows(conn, ids))
