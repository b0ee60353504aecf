"""The IMAP engine against the real Dovecot: folders, first sync, resync by capability, bodies,
UIDVALIDITY changes. A second imapclient connection plays the user's other devices.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import imapclient
import pytest

from tests.support.imap_sync import (
    ACCOUNT,
    RESYNC_CASES,
    FaultProxyFactory,
    ReducedDovecot,
    Server,
    append,
    engine_on,
    folder_id,
    message,
    new_mailbox,
    proxied,
    run_sync,
    server_view,
    store_view,
)
from tuimail.core.model import FolderRole
from tuimail.store import ops, read
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.events import Event, StoreChanged
from tuimail.sync.imap.account import ImapSync
from tuimail.sync.imap.connect import connect_imap
from tuimail.sync.imap.engine import SyncCancelled

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreConnection]:
    conn = open_store(tmp_path)
    yield conn
    conn.close()


# --- folders


def test_folders_get_special_use_roles_and_the_server_delimiter(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    run_sync(box, tmp_path)
    folders = {f.name: f for f in read.folders(store)}
    assert {name: f.role for name, f in folders.items()} == {
        "INBOX": FolderRole.INBOX,
        "Sent": FolderRole.SENT,
        "Drafts": FolderRole.DRAFTS,
        "Trash": FolderRole.TRASH,
        "Junk": FolderRole.JUNK,
        "Archive": FolderRole.ARCHIVE,
    }
    assert all(f.delimiter == "/" for f in folders.values())
    assert all(f.uidvalidity and f.last_sync for f in folders.values())


def test_without_special_use_roles_are_guessed_by_name(
    reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(reduced_dovecot(without={"SPECIAL-USE"}))
    with box.device() as device:
        device.create_folder("Sent Items")
        device.create_folder("Lists/Spam")
    run_sync(box, tmp_path)
    roles = {f.name: f.role for f in read.folders(store)}
    assert roles["Sent"] is FolderRole.SENT  # the shallow, first candidate wins
    assert roles["Sent Items"] is FolderRole.NONE
    assert roles["Junk"] is FolderRole.JUNK
    assert roles["Lists/Spam"] is FolderRole.NONE
    assert roles["Trash"] is FolderRole.TRASH
    assert roles["INBOX"] is FolderRole.INBOX


def test_new_renamed_and_deleted_folders_are_followed(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Projekte/Übersicht")  # modified UTF-7 on the wire
        device.create_folder("Old")
        device.append("Old", message(1))
    run_sync(box, tmp_path)
    names = {f.name for f in read.folders(store)}
    assert {"Projekte/Übersicht", "Old"} <= names
    assert "Projekte" not in names, "a hierarchy node that cannot hold mail is not a folder"
    assert store_view(store, "Old")

    with box.device() as device:
        device.rename_folder("Old", "Renamed")
        device.delete_folder("Projekte/Übersicht")
    run_sync(box, tmp_path)
    names = {f.name for f in read.folders(store)}
    assert "Old" not in names and "Projekte/Übersicht" not in names
    assert "Renamed" in names
    assert len(store_view(store, "Renamed")) == 1


def test_a_vanished_folder_with_local_only_data_is_kept(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Keep")
    append(box, 1)
    run_sync(box, tmp_path)
    inbox_message = read.message_ids(store, folder_id(store, "INBOX"))[0]
    ops.enqueue(store, ops.OpKind.MOVE, [inbox_message], to_folder_id=folder_id(store, "Keep"))
    with box.device() as device:
        device.delete_folder("Keep")
    run_sync(box, tmp_path)
    kept = read.folder(store, folder_id(store, "Keep"))
    assert kept is not None and kept.total == 1
    assert kept.last_error and "no longer on the server" in kept.last_error


# --- first sync


def test_first_sync_stores_the_newest_page_first_then_the_rest(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    append(box, 23)
    inbox_snapshots: list[set[int]] = []

    def watch(event: Event) -> None:
        if isinstance(event, StoreChanged):
            conn = open_store(tmp_path)
            try:
                info = read.find_folder(conn, read.account_id(conn, ACCOUNT) or 0, "INBOX")
                if info is not None and event.folder_ids == (info.id,) and info.total:
                    inbox_snapshots.append(set(read.uid_flags(conn, info.id)))
            finally:
                conn.close()

    result = run_sync(box, tmp_path, emit=watch, first_page=5, header_batch=7)
    server = server_view(box)
    assert store_view(store) == server
    uids = sorted(server)
    assert inbox_snapshots[0] == set(uids[-5:]), "the first commit holds the newest page"
    assert inbox_snapshots[1] == set(uids[-12:])
    inbox = next(f for f in result.folders if f.name == "INBOX")
    assert inbox.path == "first" and inbox.new == 23
    # Headers only: nothing is marked read on the server, and no body is local.
    assert all("\\Seen" not in flags for flags, _ in server.values())
    assert store.execute("SELECT count(*) FROM messages WHERE body_local = 1").fetchone()[0] == 0
    row = read.rows(store, read.message_ids(store, folder_id(store, "INBOX")))[0]
    assert row.envelope.subject == "message 22" and row.envelope.message_id
    assert row.envelope.from_[0].email == "sender22@example.org"


def test_a_cancelled_first_sync_resumes_where_it_stopped(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    append(box, 20)

    cancel = threading.Event()
    commits = 0

    def stop_after_two(event: Event) -> None:
        nonlocal commits
        if isinstance(event, StoreChanged):
            commits += 1
            if commits == 2:
                cancel.set()

    with pytest.raises(SyncCancelled):
        run_sync(box, tmp_path, emit=stop_after_two, cancel=cancel, first_page=4, header_batch=4)
    partial = store_view(store)
    assert 0 < len(partial) < 20
    inbox = read.folder(store, folder_id(store, "INBOX"))
    assert inbox is not None and inbox.uidnext is None and inbox.sync_resume

    result = run_sync(box, tmp_path)
    assert store_view(store) == server_view(box)
    inbox_result = next(f for f in result.folders if f.name == "INBOX")
    assert inbox_result.new == 20 - len(partial), "only what was missing is fetched again"


# --- resync by capability


@pytest.mark.parametrize("path", list(RESYNC_CASES))
def test_resync_converges_after_changes_on_another_device(
    path: str,
    reduced_dovecot: ReducedDovecot,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    server = reduced_dovecot(without=RESYNC_CASES[path])
    box, proxy = proxied(server, fault_proxy)
    append(box, 8)
    run_sync(box, tmp_path, folder="INBOX")
    assert store_view(store) == server_view(box)

    with box.device() as device:
        device.select_folder("INBOX")
        uids = sorted(device.search("ALL"))
        device.add_flags(uids[:2], [imapclient.SEEN, imapclient.FLAGGED])
        device.delete_messages(uids[2:4])
        device.uid_expunge(uids[2:4])
        device.remove_flags(uids[:1], [imapclient.FLAGGED])
    append(box, 3, start=100)

    before = len(proxy.from_client)
    result = run_sync(box, tmp_path, folder="INBOX")
    assert store_view(store) == server_view(box)
    inbox = result.folders[0]
    assert inbox.path == path
    assert (inbox.new, inbox.expunged, inbox.flags_changed) == (3, 2, 2)

    sent = proxy.from_client[before:].upper()
    assert (b"(QRESYNC (" in sent) == (path == "qresync")
    assert (b"CHANGEDSINCE" in sent) == (path == "condstore")
    if path == "full":
        assert b"CONDSTORE" not in sent and b"QRESYNC" not in sent
    # A resync never writes to the server.
    for command in (b" STORE ", b" EXPUNGE", b" MOVE ", b" COPY "):
        assert command not in sent


@pytest.mark.parametrize("path", list(RESYNC_CASES))
def test_a_resync_with_nothing_new_changes_nothing(
    path: str, reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(reduced_dovecot(without=RESYNC_CASES[path]))
    append(box, 4)
    run_sync(box, tmp_path, folder="INBOX")
    revision = read.revision(store)
    result = run_sync(box, tmp_path, folder="INBOX")
    inbox = result.folders[0]
    assert (inbox.new, inbox.expunged, inbox.flags_changed) == (0, 0, 0)
    assert inbox.path == path
    # Only the folder's sync time moved: no message row was rewritten.
    assert read.changes_since(store, revision).messages == frozenset()


def test_uidvalidity_change_rebuilds_the_cache_and_fails_pending_ops(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Work")
        for number in range(3):
            device.append("Work", message(number))
    append(box, 1)
    run_sync(box, tmp_path)
    work = folder_id(store, "Work")
    old = read.folder(store, work)
    assert old is not None and old.total == 3
    # An action waiting for the server, and a message that exists only here (moved locally).
    ops.enqueue(store, ops.OpKind.SEEN, read.message_ids(store, work)[:1])
    inbox_message = read.message_ids(store, folder_id(store, "INBOX"))[0]
    ops.enqueue(store, ops.OpKind.MOVE, [inbox_message], to_folder_id=work)

    with box.device() as device:  # the folder is recreated: a new UIDVALIDITY
        device.delete_folder("Work")
        device.create_folder("Work")
        device.append("Work", message(50))
    run_sync(box, tmp_path, folder="Work")

    new = read.folder(store, work)
    assert new is not None and new.uidvalidity != old.uidvalidity
    assert set(store_view(store, "Work")) == set(server_view(box, "Work"))
    local_only = store.execute(
        "SELECT count(*) FROM messages WHERE folder_id = ? AND uid IS NULL", (work,)
    ).fetchone()[0]
    # The move from INBOX (unaffected) went to the new Work; the message is stored once.
    assert local_only == 0 and len(store_view(store, "Work")) == 2
    account = read.account_id(store, ACCOUNT)
    assert account is not None
    failed = ops.failed(store, account)
    assert [op.kind for op in failed] == [ops.OpKind.SEEN]
    assert "UIDVALIDITY" in (failed[0].last_error or "")
    # Nothing of the new folder was touched: its message and the moved one are there.
    assert len(server_view(box, "Work")) == 2
    assert len(server_view(box, "INBOX")) == 0


# --- bodies


def test_bodies_are_the_exact_server_bytes_and_leave_seen_alone(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    append(box, 5)
    result = run_sync(box, tmp_path, folder="INBOX", bodies=True)
    assert result.bodies == 5
    with box.device() as device:
        device.select_folder("INBOX", readonly=True)
        server = device.fetch(device.search("ALL"), ["BODY.PEEK[]", "FLAGS"])
    for uid, item in server.items():
        message_id = read.message_id_by_uid(store, folder_id(store, "INBOX"), uid)
        assert message_id is not None
        assert read.body(store, message_id) == item[b"BODY[]"]
        assert b"\\Seen" not in item[b"FLAGS"]


def test_one_body_on_demand(mail_servers: Server, store: StoreConnection, tmp_path: Path) -> None:
    box = new_mailbox(mail_servers)
    append(box, 2)
    run_sync(box, tmp_path)
    inbox = folder_id(store, "INBOX")
    wanted = read.message_ids(store, inbox)[0]
    account = box.account()
    assert account.incoming is not None
    client = connect_imap(account.incoming, ca_file=account.ca_file, password=lambda: box.password)
    try:
        raw = ImapSync(store, ACCOUNT, client).fetch_body(wanted)
    finally:
        client.logout()
    assert raw.startswith(b"From: Sender 1")
    assert read.body(store, wanted) == raw
    assert read.body(store, read.message_ids(store, inbox)[1]) is None
    assert all("\\Seen" not in flags for flags, _ in server_view(box).values())


@pytest.mark.parametrize("path", list(RESYNC_CASES))
def test_pending_user_actions_are_not_undone_by_a_resync(
    path: str, reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(reduced_dovecot(without=RESYNC_CASES[path]))
    append(box, 4)
    run_sync(box, tmp_path, folder="INBOX")
    inbox = folder_id(store, "INBOX")
    newest, second, *_ = read.message_ids(store, inbox)
    deleted_uid = read.row(store, newest).uid  # type: ignore[union-attr]
    ops.enqueue(store, ops.OpKind.DELETE, [newest])
    ops.enqueue(store, ops.OpKind.SEEN, [second])
    with box.device() as device:  # another device changes flags of both meanwhile
        device.select_folder("INBOX")
        device.add_flags(device.search("ALL"), [imapclient.FLAGGED])
    run_sync(box, tmp_path, folder="INBOX")
    assert read.message_id_by_uid(store, inbox, deleted_uid or 0) is None, "not fetched again"
    second_row = read.row(store, second)
    assert second_row is not None and "\\Seen" in second_row.flags
    assert len(store_view(store)) == 3


@pytest.mark.parametrize("path", list(RESYNC_CASES))
def test_a_message_another_device_unmarks_deleted_reaches_the_store(
    path: str, reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    """It arrived marked \\Deleted and was not fetched; once the mark is removed, the next
    resync stores it (on every path, like a fresh data directory would)."""
    box = new_mailbox(reduced_dovecot(without=RESYNC_CASES[path]))
    append(box, 2)
    with box.device() as device:
        device.append("INBOX", message(20), flags=[imapclient.DELETED])
    append(box, 1, start=30)
    run_sync(box, tmp_path, folder="INBOX")
    assert len(store_view(store)) == 3, "the marked one is not fetched"
    run_sync(box, tmp_path, folder="INBOX")  # an ordinary resync in between

    with box.device() as device:
        device.select_folder("INBOX")
        device.remove_flags(device.search("DELETED"), [imapclient.DELETED])
    result = run_sync(box, tmp_path, folder="INBOX")
    inbox = result.folders[0]
    assert inbox.path == path
    assert inbox.new == 1
    assert store_view(store) == server_view(box)
    subjects = {
        str(row[0])
        for row in store.execute(
            "SELECT subject FROM messages WHERE folder_id = ?", (folder_id(store, "INBOX"),)
        )
    }
    assert "message 20" in subjects
    # And nothing more happens after.
    revision = read.revision(store)
    result = run_sync(box, tmp_path, folder="INBOX")
    assert result.folders[0].new == 0
    assert read.changes_since(store, revision).messages == frozenset()


# --- ops replay


@pytest.mark.parametrize("uidplus", [True, False], ids=["uidplus", "no-uidplus"])
def test_flag_and_delete_actions_replay_to_the_server(
    uidplus: bool,
    reduced_dovecot: ReducedDovecot,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    server = reduced_dovecot(without=set() if uidplus else {"UIDPLUS"})
    box, proxy = proxied(server, fault_proxy)
    append(box, 4)
    run_sync(box, tmp_path, folder="INBOX")
    inbox = folder_id(store, "INBOX")
    newest, second, third, _ = read.message_ids(store, inbox)
    uid = {m: read.row(store, m).uid for m in (newest, second, third)}  # type: ignore[union-attr]
    ops.enqueue(store, ops.OpKind.SEEN, [second])
    ops.enqueue(store, ops.OpKind.FLAG, [third], flag="$Important")
    ops.enqueue(store, ops.OpKind.DELETE, [newest])
    with box.device() as device:  # another client's deleted message must survive our replay
        device.select_folder("INBOX")
        oldest = min(device.search("ALL"))
        device.add_flags([oldest], [imapclient.DELETED])

    before = len(proxy.from_client)
    result = run_sync(box, tmp_path, folder="INBOX")
    assert result.ops_replayed == 3
    account = read.account_id(store, ACCOUNT)
    assert account is not None and ops.pending(store, account) == []

    view = server_view(box)
    assert "\\Seen" in view[uid[second]][0]
    assert "$Important" in view[uid[third]][0]
    assert oldest in view, "another client's \\Deleted message is never expunged by us"
    sent = proxy.from_client[before:].upper()
    if uidplus:
        assert uid[newest] not in view
        assert b"UID EXPUNGE" in sent
    else:
        assert "\\Deleted" in view[uid[newest]][0]
        assert b"EXPUNGE" not in sent, "without UIDPLUS no EXPUNGE of any kind"
        # It stays on the server, marked; here it is gone as the user asked.
        del view[uid[newest]]
    assert store_view(store) == view


def test_replaying_an_op_twice_is_harmless(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    append(box, 2)
    run_sync(box, tmp_path, folder="INBOX")
    inbox = folder_id(store, "INBOX")
    first = read.message_ids(store, inbox)[0]
    ops.enqueue(store, ops.OpKind.SEEN, [first])
    ops.enqueue(store, ops.OpKind.DELETE, [first])
    account = read.account_id(store, ACCOUNT)
    assert account is not None
    pending = ops.pending(store, account)
    run_sync(box, tmp_path, folder="INBOX")
    # As after a crash between the server's answer and the journal: the same ops again.
    for op in pending:
        store.execute(
            "INSERT INTO pending_ops (id, account_id, folder_id, uidvalidity, kind, targets,"
            " args, created, updated, revision) SELECT ?, ?, ?, ?, ?, ?, ?, 0, 0, 0",
            (
                op.id,
                op.account_id,
                op.folder_id,
                op.uidvalidity,
                op.kind.value,
                f"[[{op.targets[0].message_id}, {op.targets[0].uid}]]",
                "{}",
            ),
        )
    result = run_sync(box, tmp_path, folder="INBOX")
    assert result.ops_replayed == 2 and not result.folder_errors
    assert store_view(store) == server_view(box)
    assert len(server_view(box)) == 1


def test_a_folder_gone_before_its_resync_leaves_the_connection_usable(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    """A resync sends its identity check and its search behind the folder's SELECT; when the
    folder is gone (deleted by another client after the news), the SELECT fails, those two
    fail with it, and the connection goes on with the next folder."""
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Lists/dev")
    append(box, 3, folder="Lists/dev")
    append(box, 2)
    run_sync(box, tmp_path)
    dev, inbox = folder_id(store, "Lists/dev"), folder_id(store, "INBOX")
    with box.device() as device:
        device.delete_folder("Lists/dev")
    append(box, 1, start=10)
    with engine_on(box, store) as engine:
        with pytest.raises(imapclient.exceptions.IMAPClientError, match="examine failed"):
            engine.sync_folder(dev)
        result = engine.sync_folder(inbox)
    assert result.new == 1
    assert store_view(store) == server_view(box)
