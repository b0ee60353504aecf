"""The user's folder actions replayed against the real Dovecot: create (a subfolder too),
rename with subfolders and cached messages (nothing fetched again), delete, all done offline
first; and what the replay gives up (a name taken meanwhile, a folder renamed or filled by
another client), told as other actions given up and taken back in the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.crash_walk import ACCOUNT as WALK_ACCOUNT
from tests.support.crash_walk import Run, write_config
from tests.support.imap_sync import (
    ACCOUNT,
    FaultProxyFactory,
    Mailbox,
    Server,
    append,
    folder_id,
    new_mailbox,
    proxied,
    run_sync,
)
from tests.support.mailservers import MailServers
from tuimail.core.crashpoint import CRASH_EXIT_CODE
from tuimail.store import folder_ops, ops, read
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.events import ActionsGivenUp, Event, given_up_text

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreConnection]:
    conn = open_store(tmp_path)
    yield conn
    conn.close()


def account_id(conn: StoreConnection, name: str = ACCOUNT) -> int:
    found = read.account_id(conn, name)
    assert found is not None
    return found


def server_folders(box: Mailbox) -> set[str]:
    with box.device() as device:
        return {str(name) for _flags, _delim, name in device.list_folders()}


def subscribed(box: Mailbox) -> set[str]:
    with box.device() as device:
        return {str(name) for _flags, _delim, name in device.list_sub_folders()}


def told(events: list[Event]) -> list[str]:
    return [given_up_text(a) for e in events if isinstance(e, ActionsGivenUp) for a in e.actions]


def unreachable(box: Mailbox, port: int) -> Mailbox:
    """The same mailbox at `port`, where nothing listens: the server is out of reach."""
    return Mailbox(box.server, box.user, box.host, port, box.security)


def test_create_rename_delete_offline_first_then_on_the_server(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
    closed_port: int,
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    with box.device() as device:
        device.create_folder("Lists")
        device.create_folder("Lists/dev")
        device.create_folder("Old")
    append(box, 3, folder="Lists")
    append(box, 2, folder="Lists/dev")
    run_sync(box, tmp_path)
    account = account_id(store)
    lists = folder_id(store, "Lists")
    dev = folder_id(store, "Lists/dev")
    cached = read.message_ids(store, lists), read.message_ids(store, dev)
    inbox_count = len(read.message_ids(store, folder_id(store, "INBOX")))

    # Offline: every action changes the store at once.
    projects = folder_ops.create(store, account, "Projects/2026")
    (flag_op,) = ops.enqueue(store, ops.OpKind.FLAG, cached[0][1:2], flag="\\Flagged")
    folder_ops.rename(store, lists, "Mailing lists")
    (seen_op,) = ops.enqueue(store, ops.OpKind.SEEN, cached[0][:1])  # after the rename
    folder_ops.delete(store, folder_id(store, "Old"))
    shown = {f.name for f in read.folders(store, account)}
    assert {"Projects/2026", "Mailing lists", "Mailing lists/dev"} <= shown
    assert not {"Lists", "Lists/dev", "Old"} & shown
    with pytest.raises(Exception):  # noqa: B017 (the connection's own error)
        run_sync(unreachable(box, closed_port), tmp_path)
    assert len(folder_ops.pending(store, account)) == 3, "nothing lost while out of reach"

    # The server is back: it follows, and the store stays as it is.
    before = len(proxy.from_client)
    result = run_sync(box, tmp_path)
    assert not result.folder_errors
    assert folder_ops.pending(store, account) == [] and ops.pending(store, account) == []
    on_server = server_folders(box)
    assert {"Projects/2026", "Mailing lists", "Mailing lists/dev"} <= on_server
    assert not {"Lists", "Lists/dev", "Old"} & on_server
    assert "Projects/2026" in subscribed(box) and "Mailing lists" in subscribed(box)
    assert {f.name for f in read.folders(store, account)} == on_server - {"Projects"}
    assert read.folder(store, projects) is not None, "the created folder keeps its row"
    # The renamed folders kept their cached messages: no header was fetched again.
    assert (read.message_ids(store, lists), read.message_ids(store, dev)) == cached
    sent = proxy.from_client[before:].upper().split(b"\r\n")
    assert [line for line in sent if b"FETCH" in line and b"INTERNALDATE" in line] == []
    assert len(read.message_ids(store, folder_id(store, "INBOX"))) == inbox_count
    # The ops queued on messages of the renamed folder, before and after the rename, reached
    # them under its new name.
    assert ops.get(store, seen_op) is None and ops.get(store, flag_op) is None
    with box.device() as device:
        device.select_folder("Mailing lists", readonly=True)
        assert len(device.search("SEEN")) == 1 and len(device.search("FLAGGED")) == 1


def test_a_level_that_only_holds_subfolders_can_be_made_a_folder(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Clients/Acme")  # "Clients" is listed \\Noselect
    run_sync(box, tmp_path)
    account = account_id(store)
    made = folder_ops.create(store, account, "Clients")
    events: list[Event] = []
    run_sync(box, tmp_path, emit=events.append)
    assert told(events) == [] and folder_ops.failed(store, account) == []
    with box.device() as device:
        device.select_folder("Clients", readonly=True)  # a folder now, not only a level
    assert read.folder(store, made) is not None


def test_a_replay_after_a_crash_does_not_report_its_own_create(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    run_sync(box, tmp_path)
    account = account_id(store)
    folder_ops.create(store, account, "Made")
    (op,) = folder_ops.pending(store, account)
    folder_ops.mark_sent(store, op.id)
    with box.device() as device:  # the CREATE reached the server, then the process died
        device.create_folder("Made")
    events: list[Event] = []
    run_sync(box, tmp_path, emit=events.append)
    assert told(events) == [] and folder_ops.pending(store, account) == []
    assert folder_ops.failed(store, account) == []


def test_what_the_replay_gives_up_is_told_and_the_store_follows_the_server(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Moved away")
        device.create_folder("Filling")
    run_sync(box, tmp_path)
    account = account_id(store)
    folder_ops.create(store, account, "Taken")
    folder_ops.rename(store, folder_id(store, "Moved away"), "Mine")
    folder_ops.delete(store, folder_id(store, "Filling"))
    with box.device() as device:  # meanwhile, on another device
        device.create_folder("Taken")
        device.rename_folder("Moved away", "Theirs")
    append(box, 1, folder="Filling")

    events: list[Event] = []
    run_sync(box, tmp_path, emit=events.append)
    words = told(events)
    assert len(words) == 3, words
    assert "Creating the folder Taken was not carried out" in words[0]
    assert "exists on the server already" in words[0]
    assert "Renaming the folder Moved away to Mine" in words[1]
    assert "has no folder Moved away" in words[1]
    assert "Deleting the folder Filling" in words[2] and "messages came into it" in words[2]
    assert len(folder_ops.failed(store, account)) == 3
    # The server's truth, after this pass: nothing deleted, nothing renamed by this client.
    on_server = server_folders(box)
    assert {"Taken", "Theirs", "Filling"} <= on_server and "Mine" not in on_server
    assert {f.name for f in read.folders(store, account)} == on_server
    assert len(read.message_ids(store, folder_id(store, "Filling"))) == 1


def test_names_under_a_namespace_prefix(
    cyrus_like_dovecot: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(cyrus_like_dovecot)
    run_sync(box, tmp_path)
    account = account_id(store)
    made = folder_ops.create(store, account, "Reports.Q1")
    run_sync(box, tmp_path)
    assert "INBOX.Reports.Q1" in server_folders(box)
    info = read.folder(store, made)
    assert info is not None and info.display_name == "Reports.Q1"
    folder_ops.rename(store, made, "Reports.First quarter")
    run_sync(box, tmp_path)
    assert "INBOX.Reports.First quarter" in server_folders(box)
    folder_ops.delete(store, made)
    run_sync(box, tmp_path)
    assert not {"INBOX.Reports.Q1", "INBOX.Reports.First quarter"} & server_folders(box)
    with pytest.raises(folder_ops.FolderOpError, match="cannot be deleted"):
        folder_ops.delete(store, folder_id(store, "INBOX.Gesendete Elemente"))


@pytest.mark.parametrize("step", [1, 2, 3])
def test_a_crash_after_each_folder_command(
    step: int, mail_servers: MailServers, tmp_path: Path
) -> None:
    """`tuimail sync` killed right after the server carried out the create, the rename or the
    delete: the next run finds it done, tells of no failure, and the server has each once."""
    run = Run(mail_servers, tmp_path, users={"me": mail_servers.add_user("foldercrash")})
    write_config(run, incoming="imap")
    with run.client() as device:
        device.create_folder("Before")
        device.create_folder("Empty")
    assert run.tuimail("sync").returncode == 0
    conn = open_store(run.data)
    try:
        account = account_id(conn, WALK_ACCOUNT)
        folder_ops.create(conn, account, "Made")
        found = {f.name: f.id for f in read.folders(conn, account)}
        folder_ops.rename(conn, found["Before"], "After")
        folder_ops.delete(conn, found["Empty"])
    finally:
        conn.close()
    crashed = run.tuimail("sync", crash_at=f"imap.folder_op_replayed:{step}")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    again = run.tuimail("sync")
    assert again.returncode == 0, again.stderr
    assert "was not carried out" not in again.stderr
    with run.client() as device:
        names = {str(name) for _flags, _delim, name in device.list_folders()}
    assert {"Made", "After"} <= names and not {"Before", "Empty"} & names
    conn = open_store(run.data)
    try:
        account = account_id(conn, WALK_ACCOUNT)
        assert folder_ops.pending(conn, account) == [] == folder_ops.failed(conn, account)
        assert {f.name for f in read.folders(conn, account)} == names
    finally:
        conn.close()


def test_a_refused_rename_is_taken_back_and_a_move_into_a_deleted_folder_given_up(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Notes")
        device.create_folder("Bin")
    append(box, 2, folder="Notes")
    append(box, 1)
    run_sync(box, tmp_path)
    account = account_id(store)
    notes, bin_folder = folder_id(store, "Notes"), folder_id(store, "Bin")
    cached = read.message_ids(store, notes)
    folder_ops.rename(store, notes, "Ideas")
    (inbox_message,) = read.message_ids(store, folder_id(store, "INBOX"))
    ops.enqueue(store, ops.OpKind.MOVE, [inbox_message], to_folder_id=bin_folder)
    assert folder_ops.check_delete(store, bin_folder) == 1, "the message moved in is counted"
    folder_ops.delete(store, bin_folder)
    with box.device() as device:  # another device takes the new name meanwhile
        device.create_folder("Ideas")

    events: list[Event] = []
    run_sync(box, tmp_path, emit=events.append)
    words = told(events)
    assert len(words) == 2, words
    assert (
        "Renaming the folder Notes to Ideas was not carried out: the server refused it"
        in (words[0])
    )
    assert "Moving 1 message from INBOX to another folder was not carried out" in words[1]
    # The server's truth: Notes kept its name (and its cached messages, no refetch), Bin is
    # gone, the message never left INBOX.
    assert read.message_ids(store, notes) == cached
    info = read.folder(store, notes)
    assert info is not None and info.name == "Notes"
    on_server = server_folders(box)
    assert {"Notes", "Ideas"} <= on_server and "Bin" not in on_server
    assert {f.name for f in read.folders(store, account)} == on_server
    assert read.message_ids(store, folder_id(store, "INBOX")) != []
    assert ops.pending(store, account) == []


def test_names_beyond_ascii_go_in_modified_utf7_and_come_back_the_same(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    run_sync(box, tmp_path)
    account = account_id(store)
    made = folder_ops.create(store, account, "Entwürfe/Ärger & Co")
    run_sync(box, tmp_path)
    assert "Entwürfe/Ärger & Co" in server_folders(box)  # imapclient decodes modified UTF-7
    with box.device() as device:
        device.folder_encode = False
        raw = {bytes(name) for _f, _d, name in device.list_folders()}
    assert b"Entw&APw-rfe/&AMQ-rger &- Co" in raw, "sent in modified UTF-7"
    folder_ops.rename(store, made, "Überblick")
    run_sync(box, tmp_path)
    assert "Überblick" in server_folders(box)
    info = read.folder(store, made)
    assert info is not None and info.name == "Überblick"
    folder_ops.delete(store, made)
    run_sync(box, tmp_path)
    assert "Überblick" not in server_folders(box)
    assert folder_ops.failed(store, account) == []


def test_a_folder_not_fetched_whole_is_not_deleted_with_messages_never_shown(
    mail_servers: Server, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    with box.device() as device:
        device.create_folder("Big")
    append(box, 3, folder="Big")
    run_sync(box, tmp_path)
    big = folder_id(store, "Big")
    with store:  # as a first sync stopped after its newest page leaves it
        store.execute("DELETE FROM messages WHERE folder_id = ? AND uid = 1", (big,))
        store.execute("UPDATE folders SET uidnext = NULL WHERE id = ?", (big,))
    assert folder_ops.delete(store, big) == 2
    events: list[Event] = []
    run_sync(box, tmp_path, emit=events.append)
    (words,) = told(events)
    assert "Deleting the folder Big was not carried out" in words
    assert len(server_view_count(box, "Big")) == 3
    assert len(read.message_ids(store, folder_id(store, "Big"))) == 3, "back from the server"


def server_view_count(box: Mailbox, folder: str) -> list[int]:
    with box.device() as device:
        device.select_folder(folder, readonly=True)
        return list(device.search("ALL"))
