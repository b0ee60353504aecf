"""Replay of user actions against the real Dovecot: move and copy by every means a server offers,
replays after a crash that neither move nor copy twice, refused ops, and deletes on a server
without UIDPLUS that stay deleted on every resync path.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import imapclient
import pytest

from tests.support.imap_sync import (
    ACCOUNT,
    RESYNC_CASES,
    FaultProxyFactory,
    Mailbox,
    ReducedDovecot,
    Server,
    append,
    folder_id,
    message,
    new_mailbox,
    proxied,
    run_sync,
    server_view,
    store_view,
)
from tuimail.store import ops, read
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.events import GIVEN_UP_REFUSED, GIVEN_UP_UNPLACED, ActionsGivenUp, Event
from tuimail.sync.imap.replay import MAX_OP_ATTEMPTS, UNPLACED

pytestmark = pytest.mark.integration

# How the server lets a message be moved: MOVE; COPY with COPYUID and UID EXPUNGE; bare COPY.
TRANSFER_CASES = {
    "move": frozenset(),
    "copy-uidplus": frozenset({"MOVE"}),
    "copy-no-uidplus": frozenset({"MOVE", "UIDPLUS"}),
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreConnection]:
    conn = open_store(tmp_path)
    yield conn
    conn.close()


def account_id(conn: StoreConnection) -> int:
    found = read.account_id(conn, ACCOUNT)
    assert found is not None
    return found


def without_deleted(view: dict[int, tuple[frozenset[str], int]]) -> dict:
    return {uid: item for uid, item in view.items() if "\\Deleted" not in item[0]}


def requeue(conn: StoreConnection, pending: list[ops.PendingOp]) -> None:
    """Put replayed ops back, as a crash between the server's answer and the journal would."""
    with conn:
        for op in pending:
            conn.execute(
                "INSERT INTO pending_ops (id, account_id, folder_id, uidvalidity, kind, targets,"
                " args, created, updated, revision) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 0)",
                (
                    op.id,
                    op.account_id,
                    op.folder_id,
                    op.uidvalidity,
                    op.kind.value,
                    json.dumps([[t.message_id, t.uid] for t in op.targets]),
                    json.dumps(op.args),
                ),
            )


@pytest.mark.parametrize("case", list(TRANSFER_CASES))
def test_move_and_copy_replay_to_the_server_and_keep_their_rows(
    case: str,
    reduced_dovecot: ReducedDovecot,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    box, proxy = proxied(reduced_dovecot(without=TRANSFER_CASES[case]), fault_proxy)
    with box.device() as device:
        device.create_folder("Archive")
        device.append("Archive", message(90))
    append(box, 4)
    run_sync(box, tmp_path)
    inbox, archive = folder_id(store, "INBOX"), folder_id(store, "Archive")
    newest, second, *_ = read.message_ids(store, inbox)
    ops.enqueue(store, ops.OpKind.MOVE, [newest], to_folder_id=archive)
    (copy_op,) = ops.enqueue(store, ops.OpKind.COPY, [second], to_folder_id=archive)
    copy_row = next(op for op in ops.pending(store, account_id(store)) if op.id == copy_op)
    copied = copy_row.args["copies"][0]

    before = len(proxy.from_client)
    result = run_sync(box, tmp_path)
    assert result.ops_replayed == 2 and not result.folder_errors
    assert ops.pending(store, account_id(store)) == []

    archive_view = server_view(box, "Archive")
    assert len(archive_view) == 3, "the original, the moved message and the copy"
    assert store_view(store, "Archive") == archive_view
    # The local rows got their server UIDs; nothing was dropped and fetched again.
    moved_row, copy_row_now = read.row(store, newest), read.row(store, copied)
    assert moved_row is not None and moved_row.folder_id == archive and moved_row.uid
    assert copy_row_now is not None and copy_row_now.uid in archive_view
    assert moved_row.uid in archive_view

    inbox_view = server_view(box)
    sent = proxy.from_client[before:].upper()
    assert (b"UID MOVE" in sent) == (case == "move")
    if case == "copy-no-uidplus":
        assert len(inbox_view) == 4, "the original stays, marked"
        assert b"EXPUNGE" not in sent, "without UIDPLUS no EXPUNGE of any kind"
    else:
        assert len(inbox_view) == 3
    assert store_view(store) == without_deleted(inbox_view)
    assert len(store_view(store)) == 3

    # A further sync changes nothing: no duplicate of the moved or copied message.
    revision = read.revision(store)
    run_sync(box, tmp_path)
    assert read.changes_since(store, revision).messages == frozenset()
    assert store_view(store, "Archive") == server_view(box, "Archive")


@pytest.mark.parametrize("case", ["move", "copy-no-uidplus"])
def test_a_move_or_copy_replayed_twice_happens_once_on_the_server(
    case: str, reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(reduced_dovecot(without=TRANSFER_CASES[case]))
    with box.device() as device:
        device.create_folder("Archive")
    append(box, 3)
    run_sync(box, tmp_path)
    inbox, archive = folder_id(store, "INBOX"), folder_id(store, "Archive")
    newest, second, _ = read.message_ids(store, inbox)
    ops.enqueue(store, ops.OpKind.MOVE, [newest], to_folder_id=archive)
    ops.enqueue(store, ops.OpKind.COPY, [second], to_folder_id=archive)
    pending = ops.pending(store, account_id(store))
    run_sync(box, tmp_path)
    assert len(server_view(box, "Archive")) == 2

    requeue(store, pending)
    result = run_sync(box, tmp_path)
    assert result.ops_replayed == 2 and not result.folder_errors
    archive_view = server_view(box, "Archive")
    assert len(archive_view) == 2, "neither moved nor copied a second time"
    assert store_view(store, "Archive") == archive_view
    assert store_view(store) == without_deleted(server_view(box))


def test_a_refused_op_is_retried_then_given_up_and_the_others_go_on(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Gone")
    append(box, 2)
    run_sync(box, tmp_path)
    inbox, gone = folder_id(store, "INBOX"), folder_id(store, "Gone")
    newest, second = read.message_ids(store, inbox)
    (move,) = ops.enqueue(store, ops.OpKind.MOVE, [newest], to_folder_id=gone)
    ops.enqueue(store, ops.OpKind.SEEN, [second])
    with box.device() as device:  # another device removes the target meanwhile
        device.delete_folder("Gone")

    result = run_sync(box, tmp_path)
    assert result.ops_replayed == 1, "the refusal of one op does not stop the others"
    assert result.ops_waiting == 1
    (waiting,) = ops.pending(store, account_id(store))
    assert waiting.id == move and waiting.attempts == 1 and waiting.last_error
    second_uid = read.row(store, second).uid  # type: ignore[union-attr]
    assert "\\Seen" in server_view(box)[second_uid or 0][0]
    # The message waiting to be moved is not fetched back into INBOX meanwhile.
    assert len(store_view(store)) == 1

    for _ in range(MAX_OP_ATTEMPTS - 1):
        run_sync(box, tmp_path, folder="INBOX")
    assert ops.pending(store, account_id(store)) == []
    (given_up,) = ops.failed(store, account_id(store))
    assert given_up.id == move and given_up.attempts == MAX_OP_ATTEMPTS
    assert len(server_view(box)) == 2, "nothing was lost on the server"


@pytest.mark.parametrize("path", list(RESYNC_CASES))
def test_deleted_messages_stay_out_of_the_store_without_uidplus(
    path: str, reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(reduced_dovecot(without=RESYNC_CASES[path] | {"UIDPLUS"}))
    append(box, 4)
    run_sync(box, tmp_path, folder="INBOX")
    inbox = folder_id(store, "INBOX")
    newest, second, *_ = read.message_ids(store, inbox)
    ops.enqueue(store, ops.OpKind.DELETE, [newest])
    with box.device() as device:
        device.select_folder("INBOX")
        # Another device marks a stored message, and adds one already marked.
        device.add_flags([read.row(store, second).uid], [imapclient.DELETED])  # type: ignore[union-attr]
        device.append("INBOX", message(20), flags=[imapclient.DELETED])
        device.append("INBOX", message(21))
    for _ in range(2):
        result = run_sync(box, tmp_path, folder="INBOX")
        assert result.folders[0].path == path
    view = server_view(box)
    assert len(view) == 6, "nothing was expunged on the server"
    stored = store_view(store)
    # Ours stays deleted and the one that arrived deleted is not fetched; the stored one that
    # another device marked stays, with the mark, like the unmarked new one.
    assert len(stored) == 4
    assert stored == {uid: item for uid, item in view.items() if uid in stored}
    assert read.row(store, newest) is None
    second_row = read.row(store, second)
    assert second_row is not None and "\\Deleted" in second_row.flags


def subjects_on_server(box: Mailbox, folder: str) -> set[str]:
    with box.device() as device:
        device.select_folder(folder, readonly=True)
        data = device.fetch(device.search("NOT DELETED"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return {
        item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().partition(":")[2].strip()
        for item in data.values()
    }


@pytest.mark.parametrize("case", ["move", "copy-uidplus"])
def test_what_the_user_does_to_a_moved_message_before_the_replay_reaches_the_server(
    case: str, reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    """Moved on, flagged, or deleted in its new folder before the first move was replayed:
    the later ops learn the UID the move gave it, so each lands on the server's copy."""
    box = new_mailbox(reduced_dovecot(without=TRANSFER_CASES[case]))
    with box.device() as device:
        device.create_folder("Archive")
        device.create_folder("Later")
    append(box, 3)
    run_sync(box, tmp_path)
    inbox, archive, later = (folder_id(store, name) for name in ("INBOX", "Archive", "Later"))
    onward, flagged, deleted = read.message_ids(store, inbox)
    ops.enqueue(store, ops.OpKind.MOVE, [onward, flagged, deleted], to_folder_id=archive)
    ops.enqueue(store, ops.OpKind.MOVE, [onward], to_folder_id=later)
    ops.enqueue(store, ops.OpKind.FLAG, [flagged], flag="\\Flagged")
    ops.enqueue(store, ops.OpKind.DELETE, [deleted])

    result = run_sync(box, tmp_path)
    assert result.ops_replayed == 4 and not result.folder_errors
    assert ops.pending(store, account_id(store)) == []
    assert subjects_on_server(box, "INBOX") == set()
    assert subjects_on_server(box, "Later") == {"message 2"}
    assert subjects_on_server(box, "Archive") == {"message 1"}
    archive_view = without_deleted(server_view(box, "Archive"))
    ((flags, _size),) = archive_view.values()
    assert "\\Flagged" in flags
    assert store_view(store, "Archive") == archive_view
    assert store_view(store, "Later") == without_deleted(server_view(box, "Later"))
    row = read.row(store, onward)
    assert row is not None and row.folder_id == later and row.uid is not None

    # Nothing more to do, and nothing comes back.
    revision = read.revision(store)
    run_sync(box, tmp_path)
    assert read.changes_since(store, revision).messages == frozenset()


def stored_subjects(conn: StoreConnection, folder: str) -> set[str]:
    return {
        str(row[0])
        for row in conn.execute(
            "SELECT subject FROM messages WHERE folder_id = ?", (folder_id(conn, folder),)
        )
    }


@pytest.mark.parametrize("last", ["flag", "move", "delete"])
@pytest.mark.parametrize("case", list(TRANSFER_CASES))
def test_an_action_after_a_message_moved_back_into_a_folder_reaches_the_server(
    case: str, last: str, reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    """INBOX -> A -> B -> A, then one more action, all before a replay: the message gets a new
    UID each time it lands in A, and the last action acts on the second one."""
    box = new_mailbox(reduced_dovecot(without=TRANSFER_CASES[case]))
    with box.device() as device:
        device.create_folder("A")
        device.create_folder("B")
    append(box, 2)
    run_sync(box, tmp_path)
    inbox, a, b = (folder_id(store, name) for name in ("INBOX", "A", "B"))
    moved, _stays = read.message_ids(store, inbox)
    moved_subject = str(
        store.execute("SELECT subject FROM messages WHERE id = ?", (moved,)).fetchone()[0]
    )
    for to in (a, b, a):
        ops.enqueue(store, ops.OpKind.MOVE, [moved], to_folder_id=to)
    if last == "flag":
        ops.enqueue(store, ops.OpKind.FLAG, [moved], flag="\\Flagged")
    elif last == "move":
        ops.enqueue(store, ops.OpKind.MOVE, [moved], to_folder_id=b)
    else:
        ops.enqueue(store, ops.OpKind.DELETE, [moved])

    result = run_sync(box, tmp_path)
    assert result.ops_replayed == 4 and not result.folder_errors
    assert ops.pending(store, account_id(store)) == []
    assert ops.failed(store, account_id(store)) == []
    expected = {
        "flag": ("A", {"A": {moved_subject}, "B": set()}),
        "move": ("B", {"A": set(), "B": {moved_subject}}),
        "delete": (None, {"A": set(), "B": set()}),
    }[last]
    for folder, subjects in expected[1].items():
        assert subjects_on_server(box, folder) == subjects, folder
        assert stored_subjects(store, folder) == subjects, folder
    if last == "flag":
        ((flags, _size),) = without_deleted(server_view(box, "A")).values()
        assert "\\Flagged" in flags
    # The store agrees with the server, and the next sync changes nothing.
    for folder in ("INBOX", "A", "B"):
        assert store_view(store, folder) == without_deleted(server_view(box, folder)), folder
    revision = read.revision(store)
    run_sync(box, tmp_path)
    assert read.changes_since(store, revision).messages == frozenset()


def server_by_subject(box: Mailbox, folder: str) -> dict[str, frozenset[str]]:
    """Subject -> flags of the messages in a folder not marked \\Deleted."""
    with box.device() as device:
        device.select_folder(folder, readonly=True)
        data = device.fetch(
            device.search("NOT DELETED"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]
        )
    return {
        item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().partition(":")[2].strip(): frozenset(
            f.decode() for f in item[b"FLAGS"] if f.lower() != b"\\recent"
        )
        for item in data.values()
    }


def store_by_subject(conn: StoreConnection, folder: str) -> dict[str, frozenset[str]]:
    return {
        str(row[0]): frozenset(row[1].split())
        for row in conn.execute(
            "SELECT subject, flags FROM messages WHERE folder_id = ?", (folder_id(conn, folder),)
        )
    }


@pytest.mark.parametrize("case", list(TRANSFER_CASES))
def test_random_moves_flags_and_deletes_end_the_same_on_server_and_store(
    case: str, reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    """Rounds of random actions between syncs (a fixed seed): after each sync every action
    has reached the server, none failed, and the store shows what the server holds."""
    rng = random.Random(20261207)
    box = new_mailbox(reduced_dovecot(without=TRANSFER_CASES[case]))
    folders = ("INBOX", "A", "B")
    with box.device() as device:
        for name in folders[1:]:
            device.create_folder(name)
    append(box, 3)
    run_sync(box, tmp_path)
    ids = {name: folder_id(store, name) for name in folders}
    alive = list(read.message_ids(store, ids["INBOX"]))
    for _round in range(5):
        for _step in range(10):
            if not alive:
                break
            row = rng.choice(alive)
            action = rng.choice(["move", "move", "move", "flag", "unflag", "seen", "delete"])
            if action == "move":
                here = store.execute("SELECT folder_id FROM messages WHERE id = ?", (row,))
                current = here.fetchone()[0]
                to = rng.choice([f for f in ids.values() if f != current])
                ops.enqueue(store, ops.OpKind.MOVE, [row], to_folder_id=to)
            elif action in ("flag", "unflag"):
                kind = ops.OpKind.FLAG if action == "flag" else ops.OpKind.UNFLAG
                ops.enqueue(store, kind, [row], flag="\\Flagged")
            elif action == "seen":
                ops.enqueue(store, ops.OpKind.SEEN, [row])
            else:
                ops.enqueue(store, ops.OpKind.DELETE, [row])
                alive.remove(row)
        expected = {name: store_by_subject(store, name) for name in folders}
        result = run_sync(box, tmp_path)
        assert not result.folder_errors
        assert ops.pending(store, account_id(store)) == []
        assert ops.failed(store, account_id(store)) == []
        for name in folders:
            assert server_by_subject(box, name) == expected[name], name
            assert store_by_subject(store, name) == expected[name], name
        # The rows keep their identity through the replay: the next round picks from them.
        alive = [
            int(r[0])
            for r in store.execute(
                "SELECT id FROM messages WHERE folder_id IN (?, ?, ?)", tuple(ids.values())
            )
        ]


def test_an_action_on_a_message_whose_uid_cannot_be_known_stays_as_a_failed_op(
    reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    """Moved by bare COPY (no COPYUID) and without a Message-ID to find the copy by, then
    flagged: the flag cannot be carried out, and the user is shown it instead of losing it."""
    box = new_mailbox(reduced_dovecot(without=TRANSFER_CASES["copy-no-uidplus"]))
    with box.device() as device:
        device.create_folder("A")
        device.append("INBOX", b"From: a@example.org\r\nSubject: no id\r\n\r\nHello.\r\n")
    run_sync(box, tmp_path)
    inbox, a = folder_id(store, "INBOX"), folder_id(store, "A")
    (moved,) = read.message_ids(store, inbox)
    ops.enqueue(store, ops.OpKind.MOVE, [moved], to_folder_id=a)
    (flag_op,) = ops.enqueue(store, ops.OpKind.FLAG, [moved], flag="\\Flagged")

    result = run_sync(box, tmp_path)
    assert result.ops_replayed == 1
    assert subjects_on_server(box, "A") == {"no id"}
    assert ops.pending(store, account_id(store)) == []
    (failed,) = ops.failed(store, account_id(store))
    assert failed.id == flag_op and failed.last_error == UNPLACED


def test_an_action_waits_behind_a_refused_move_of_the_same_message(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    """Moved to a folder another client has removed (refused, retried later), then flagged
    there: the flag waits for the move rather than being passed over; once the move is given
    up, so is the flag, and the user is told of both."""
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Gone")
    append(box, 2)
    run_sync(box, tmp_path)
    inbox, gone = folder_id(store, "INBOX"), folder_id(store, "Gone")
    moved, other = read.message_ids(store, inbox)
    (move_op,) = ops.enqueue(store, ops.OpKind.MOVE, [moved], to_folder_id=gone)
    (flag_op,) = ops.enqueue(store, ops.OpKind.FLAG, [moved], flag="\\Flagged")
    ops.enqueue(store, ops.OpKind.SEEN, [other])
    with box.device() as device:
        device.delete_folder("Gone")

    result = run_sync(box, tmp_path)
    assert (result.ops_replayed, result.ops_waiting) == (1, 2)
    waiting = {op.id: op for op in ops.pending(store, account_id(store))}
    assert set(waiting) == {move_op, flag_op}
    assert waiting[move_op].attempts == 1 and waiting[flag_op].attempts == 0

    events: list[Event] = []
    for _ in range(MAX_OP_ATTEMPTS):
        run_sync(box, tmp_path, emit=events.append)
    assert ops.pending(store, account_id(store)) == []
    given_up = [a for e in events if isinstance(e, ActionsGivenUp) for a in e.actions]
    assert [(a.kind, a.reason) for a in given_up] == [
        ("move", GIVEN_UP_REFUSED),
        ("flag", GIVEN_UP_UNPLACED),
    ]
    # The message is back where the server has it; Gone, which held only its placeholder,
    # is gone from the store, with the flag's journal entry.
    assert [op.id for op in ops.failed(store, account_id(store))] == [move_op]
    assert read.find_folder(store, account_id(store), "Gone") is None
    assert store_view(store) == server_view(box)
