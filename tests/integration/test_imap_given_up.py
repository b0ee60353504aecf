"""User actions the replay gives up for good, against the real Dovecot: the store is settled to
what the server holds (a moved message back in its folder under its UID, a copy's rows gone, a
message deleted only locally fetched again), and the user is told in words what was not done.

The refusals are the server's own: a move or copy to a folder another client has removed (NO
[TRYCREATE]), and, through a proxy that misspells the command, a UID STORE of \\Deleted answered
with BAD.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.folder_identity import (
    identity_box,
    row_by_subject,
    server_subjects,
    stored_subjects,
    swap,
    two_folders,
)
from tests.support.imap_sync import (
    ACCOUNT,
    FaultProxyFactory,
    ReducedDovecot,
    Server,
    append,
    folder_id,
    new_mailbox,
    proxied,
    run_sync,
    server_view,
    store_view,
)
from tests.support.proxy import Faults
from tuimail.cli.sync import sync_command
from tuimail.config.schema import Config
from tuimail.store import ops, read
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.events import ActionsGivenUp, Event, given_up_text
from tuimail.sync.imap import replay
from tuimail.sync.imap.identity import FOLDER_CHANGED

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreConnection]:
    conn = open_store(tmp_path)
    yield conn
    conn.close()


@pytest.fixture(autouse=True)
def one_refusal_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """An op is given up at its first refusal here (the count itself is tested elsewhere)."""
    monkeypatch.setattr(replay, "MAX_OP_ATTEMPTS", 1)


def account_id(conn: StoreConnection) -> int:
    found = read.account_id(conn, ACCOUNT)
    assert found is not None
    return found


def told(events: list[Event]) -> list[str]:
    return [given_up_text(a) for e in events if isinstance(e, ActionsGivenUp) for a in e.actions]


@pytest.mark.parametrize("kind", [ops.OpKind.MOVE, ops.OpKind.COPY])
def test_a_move_or_copy_given_up_leaves_the_message_where_the_server_has_it(
    kind: ops.OpKind, mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Gone")
    append(box, 2)
    run_sync(box, tmp_path)
    inbox, gone = folder_id(store, "INBOX"), folder_id(store, "Gone")
    chosen, _other = read.message_ids(store, inbox)
    before = read.row(store, chosen)
    assert before is not None and before.uid is not None
    (op_id,) = ops.enqueue(store, kind, [chosen], to_folder_id=gone)
    queued = ops.get(store, op_id)
    assert queued is not None
    placed = chosen if kind is ops.OpKind.MOVE else queued.args["copies"][0]
    assert read.row(store, placed).folder_id == gone  # type: ignore[union-attr]
    with box.device() as device:  # another client removes the target meanwhile
        device.delete_folder("Gone")

    events: list[Event] = []
    result = run_sync(box, tmp_path, emit=events.append)

    assert result.ops_replayed == 0
    (failed,) = ops.failed(store, account_id(store))
    assert failed.id == op_id
    # The message is where the server has it: in INBOX under its UID, and nowhere else.
    row = read.row(store, chosen)
    assert row is not None and (row.folder_id, row.uid) == (inbox, before.uid)
    if kind is ops.OpKind.COPY:
        assert read.row(store, placed) is None, "the copy that was never made is gone"
    assert read.find_folder(store, account_id(store), "Gone") is None
    assert store_view(store) == server_view(box)
    verb = "Moving" if kind is ops.OpKind.MOVE else "Copying"
    (text,) = told(events)
    assert text.startswith(f"{verb} 1 message from INBOX to Gone was not carried out:")
    assert "the server refused it" in text


def test_a_move_given_up_with_an_action_after_it_leaves_no_ghost(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    """Moved to a folder another client removes, then flagged there before the replay: both
    are given up (the flag has no UID to act on), and the message is shown where it is."""
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Gone")
    append(box, 2)
    run_sync(box, tmp_path)
    inbox, gone = folder_id(store, "INBOX"), folder_id(store, "Gone")
    chosen, _other = read.message_ids(store, inbox)
    ops.enqueue(store, ops.OpKind.MOVE, [chosen], to_folder_id=gone)
    ops.enqueue(store, ops.OpKind.FLAG, [chosen], flag="\\Flagged")
    with box.device() as device:
        device.delete_folder("Gone")

    events: list[Event] = []
    run_sync(box, tmp_path, emit=events.append)

    assert ops.pending(store, account_id(store)) == []
    assert read.find_folder(store, account_id(store), "Gone") is None, "no ghost kept it"
    assert store.execute("SELECT count(*) FROM messages WHERE uid IS NULL").fetchone()[0] == 0
    assert store_view(store) == server_view(box)
    assert len(store_view(store)) == 2
    moving, flagging = told(events)
    assert moving.startswith("Moving 1 message from INBOX to Gone was not carried out:")
    assert flagging.startswith("Flagging 1 message in Gone was not carried out:")


def test_tuimail_sync_says_what_was_not_carried_out(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Gone")
    append(box, 1)
    run_sync(box, tmp_path)
    (chosen,) = read.message_ids(store, folder_id(store, "INBOX"))
    ops.enqueue(store, ops.OpKind.MOVE, [chosen], to_folder_id=folder_id(store, "Gone"))
    with box.device() as device:
        device.delete_folder("Gone")

    out, err = io.StringIO(), io.StringIO()
    config = Config(accounts={ACCOUNT: box.account()})
    assert sync_command(config, tmp_path, [ACCOUNT], out, err) == 0
    (line,) = err.getvalue().splitlines()
    assert line.startswith(
        f"{ACCOUNT}: Moving 1 message from INBOX to Gone was not carried out: the server refused"
    )
    assert out.getvalue().startswith(f"{ACCOUNT}: ")


@pytest.mark.parametrize("kind", [ops.OpKind.DELETE, ops.OpKind.FLAG])
def test_a_delete_or_flag_given_up_is_undone_by_the_next_sync(
    kind: ops.OpKind,
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    """The row went (or took the flag) at once; the server still has the message unchanged, so
    the folder's next sync shows it as the server has it, also where QRESYNC would report only
    what changed there."""

    def refuse_storing(line: bytes) -> bytes:
        if b" UID STORE " in line and (b"\\Deleted" in line or b"\\Flagged" in line):
            return line.replace(b" UID STORE ", b" UID STORX ")
        return line

    box, _proxy = proxied(mail_servers, fault_proxy, client=Faults(rewrite_line=refuse_storing))
    append(box, 3)
    run_sync(box, tmp_path)
    inbox = folder_id(store, "INBOX")
    chosen = read.message_ids(store, inbox)[0]
    if kind is ops.OpKind.DELETE:
        ops.enqueue(store, kind, [chosen])
    else:
        ops.enqueue(store, kind, [chosen], flag="\\Flagged")
    assert store_view(store) != server_view(box)

    events: list[Event] = []
    result = run_sync(box, tmp_path, emit=events.append)

    assert not result.folder_errors
    assert len(ops.failed(store, account_id(store))) == 1
    assert len(server_view(box)) == 3, "nothing was deleted on the server"
    assert not any("\\Flagged" in flags for flags, _ in server_view(box).values())
    assert store_view(store) == server_view(box), "the message is shown as the server has it"
    (text,) = told(events)
    what = (
        "Deleting 1 message for good from" if kind is ops.OpKind.DELETE else "Flagging 1 message in"
    )
    assert text.startswith(f"{what} INBOX was not carried out:")


@pytest.mark.parametrize("case", ["mailboxid", "full"])
def test_a_folder_whose_uids_hold_other_messages_is_rebuilt_by_the_replay(
    case: str,
    reduced_dovecot: ReducedDovecot,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    """The replay itself finds the swap (by MAILBOXID, or by the Message-ID under the op's
    UID): Work's stale cache is dropped then, even by a pass that syncs only another folder,
    and Work's next sync fetches what it holds now."""
    box = identity_box(case, reduced_dovecot, fault_proxy)
    two_folders(box)
    run_sync(box, tmp_path)
    archive = folder_id(store, "Archive")
    swap(box)
    ops.enqueue(store, ops.OpKind.MOVE, [row_by_subject(store, "Work", "w1")], to_folder_id=archive)

    events: list[Event] = []
    run_sync(box, tmp_path, folder="Archive", emit=events.append)

    (failed,) = ops.failed(store, account_id(store))
    assert failed.last_error == FOLDER_CHANGED
    assert stored_subjects(store, "Work") == {}, "the cache of another mailbox is dropped"
    assert read.message_ids(store, archive) == [], "no ghost of the move"
    assert server_subjects(box, "Archive") == {}
    (text,) = told(events)
    assert text.startswith("Moving 1 message from Work to Archive was not carried out: the name")
    run_sync(box, tmp_path, folder="Work")
    assert {s for s, _ in stored_subjects(store, "Work").values()} == {"p0", "p1", "p2"}
