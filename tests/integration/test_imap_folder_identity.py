"""Folder identity against the real Dovecot: another client swaps the names of two folders that
have the same UIDVALIDITY (as Cyrus gives to folders created in the same second, and keeps across
a rename). The engine notices it by MAILBOXID where the server offers OBJECTID, else from what
the server says (UIDNEXT, HIGHESTMODSEQ, a sample of Message-IDs by UID), on every resync path;
and no action of the user, and no body, lands on another message than the one it was for.

The Dovecot here (2.3) does not implement RFC 8474, so the MAILBOXID case goes through a proxy
that announces OBJECTID and adds to each SELECT/EXAMINE answer the MAILBOXID that a server with
it would send: the mailbox's GUID, asked of Dovecot at that moment (it follows a rename, as a
MAILBOXID must). Every other byte is the real server's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.folder_identity import (
    UIDVALIDITY,
    identity_box,
    row_by_subject,
    server_subjects,
    stored_subjects,
    swap,
    two_folders,
)
from tests.support.imap_sync import (
    ACCOUNT,
    RESYNC_CASES,
    FaultProxyFactory,
    Mailbox,
    ReducedDovecot,
    folder_id,
    message,
    new_mailbox,
    run_sync,
)
from tuimail.config.schema import BodyPolicy
from tuimail.core.model import FLAGGED, Address, Draft
from tuimail.store import drafts, ops, read
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.imap.account import ImapSync
from tuimail.sync.imap.connect import connect_imap
from tuimail.sync.imap.drafts import sync_drafts
from tuimail.sync.imap.engine import MessageGoneError
from tuimail.sync.imap.identity import FOLDER_CHANGED
from tuimail.sync.imap.search import ServerSearchError, search_folder

pytestmark = pytest.mark.integration

# How the engine can tell the folders apart: MAILBOXID, else what each resync path sees.
IDENTITY_CASES = ["mailboxid", *RESYNC_CASES]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreConnection]:
    conn = open_store(tmp_path)
    yield conn
    conn.close()


@contextmanager
def engine(box: Mailbox, data_dir: Path) -> Iterator[ImapSync]:
    """The engine on its own connection, for a single call (as opening a message does)."""
    account = box.account()
    assert account.incoming is not None
    conn = open_store(data_dir)
    client = connect_imap(account.incoming, ca_file=account.ca_file, password=lambda: box.password)
    try:
        yield ImapSync(conn, ACCOUNT, client)
    finally:
        client.logout()
        conn.close()


@pytest.mark.parametrize("case", IDENTITY_CASES)
def test_a_folder_that_takes_another_folders_name_is_rebuilt(
    case: str,
    reduced_dovecot: ReducedDovecot,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    box = identity_box(case, reduced_dovecot, fault_proxy)
    two_folders(box)
    run_sync(box, tmp_path)
    assert stored_subjects(store, "Work") == server_subjects(box, "Work")
    with box.device() as device:  # a little history, so that the resync takes its path
        device.select_folder("Work")
        device.add_flags([1], [FLAGGED])
    run_sync(box, tmp_path)

    swap(box)
    result = run_sync(box, tmp_path)

    assert not result.folder_errors
    assert "2 changed on the server and fetched again" in result.summary()
    by_name = {f.name: f for f in result.folders}
    assert by_name["Work"].reset and by_name["Play"].reset
    assert not by_name["INBOX"].reset and not by_name["Archive"].reset
    for name in ("Work", "Play"):
        assert stored_subjects(store, name) == server_subjects(box, name), name
    assert {s for s, _ in stored_subjects(store, "Work").values()} == {"p0", "p1", "p2"}
    # Nothing more happens on the next pass: the rebuilt folders are what the server holds.
    again = run_sync(box, tmp_path)
    assert not any(f.reset for f in again.folders)
    assert sum(f.new for f in again.folders) == 0


@pytest.mark.parametrize("action", ["delete", "move", "flag"])
@pytest.mark.parametrize("case", ["mailboxid", "full"])
def test_an_action_after_a_swap_never_lands_on_another_message(
    case: str,
    action: str,
    reduced_dovecot: ReducedDovecot,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    box = identity_box(case, reduced_dovecot, fault_proxy)
    two_folders(box)
    run_sync(box, tmp_path)
    account = read.account_id(store, ACCOUNT)
    assert account is not None
    archive = folder_id(store, "Archive")

    def act(row: int) -> None:
        if action == "delete":
            ops.enqueue(store, ops.OpKind.DELETE, [row])
        elif action == "move":
            ops.enqueue(store, ops.OpKind.MOVE, [row], to_folder_id=archive)
        else:
            ops.enqueue(store, ops.OpKind.FLAG, [row], flag=FLAGGED)

    swap(box)
    before = {name: server_subjects(box, name) for name in ("Work", "Play", "Archive")}
    # The user acts on w1 (UID 2 of Work as the store knows it) before the next sync; on the
    # server, UID 2 of the folder now named Work is p1.
    act(row_by_subject(store, "Work", "w1"))
    result = run_sync(box, tmp_path)

    assert result.ops_replayed == 0
    (failed,) = ops.failed(store, account)
    assert failed.last_error == FOLDER_CHANGED
    # Work was rebuilt by the replay, Play by its sync: the summary tells both.
    assert "2 changed on the server and fetched again" in result.summary()
    assert {name: server_subjects(box, name) for name in before} == before, "nothing changed"
    for name in ("Work", "Play", "Archive"):
        assert stored_subjects(store, name) == server_subjects(box, name), name

    # On the rebuilt folders the same action reaches w1, where it is now, and only w1.
    act(row_by_subject(store, "Play", "w1"))
    result = run_sync(box, tmp_path)
    assert result.ops_replayed == 1
    after = {name: server_subjects(box, name) for name in before}
    play_before = {s: f for s, f in before["Play"].values()}
    play_after = {s: f for s, f in after["Play"].values()}
    assert after["Work"] == before["Work"]
    if action == "flag":
        assert play_after == {**play_before, "w1": play_before["w1"] | {FLAGGED}}
    else:
        assert play_after == {s: f for s, f in play_before.items() if s != "w1"}
    archived = {s for s, _ in after["Archive"].values()}
    assert archived == ({"w1"} if action == "move" else set())
    for name in ("Work", "Play", "Archive"):
        assert stored_subjects(store, name) == server_subjects(box, name), name


@pytest.mark.parametrize("case", ["mailboxid", "full"])
def test_an_opened_message_never_gets_another_messages_body(
    case: str,
    reduced_dovecot: ReducedDovecot,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    box = identity_box(case, reduced_dovecot, fault_proxy)
    two_folders(box)
    run_sync(box, tmp_path)
    w1 = row_by_subject(store, "Work", "w1")
    swap(box)

    for full in (False, True):
        with engine(box, tmp_path) as sync, pytest.raises(MessageGoneError, match="changed"):
            sync.fetch_body(w1, full=full)
    assert read.body(store, w1) is None and read.partial_body(store, w1) is None


@pytest.mark.parametrize("case", ["mailboxid", "full"])
def test_downloaded_bodies_never_land_under_another_message(
    case: str,
    reduced_dovecot: ReducedDovecot,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    box = identity_box(case, reduced_dovecot, fault_proxy)
    two_folders(box)
    run_sync(box, tmp_path)
    work = folder_id(store, "Work")
    swap(box)

    with engine(box, tmp_path) as sync:
        got = sync.download_wanted_bodies(BodyPolicy(), folders=[work])
    assert got.stored == 0 and "another folder" in got.problems[work]
    bodies = store.execute(
        "SELECT count(*) FROM messages WHERE folder_id = ? AND body_local = 1", (work,)
    ).fetchone()[0]
    assert bodies == 0
    # The folder was dropped to be fetched again: the next sync stores what Work holds now.
    run_sync(box, tmp_path, bodies=True)
    assert stored_subjects(store, "Work") == server_subjects(box, "Work")
    for uid, (subject, _) in stored_subjects(store, "Work").items():
        row = read.message_id_by_uid(store, work, uid)
        assert row is not None
        raw = read.body(store, row)
        assert raw is not None and f"Subject: {subject}\r\n".encode() in raw


@pytest.mark.parametrize("shape", ["uidnext", "uids-gone"])
def test_without_mailboxid_what_the_server_says_tells_a_swap(
    shape: str,
    reduced_dovecot: ReducedDovecot,
    store: StoreConnection,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On the plain path, where neither MAILBOXID nor HIGHESTMODSEQ says anything: UIDNEXT going
    back, and cached UIDs that are all gone from a folder that is not empty, tell it too."""
    box = new_mailbox(reduced_dovecot(without=RESYNC_CASES["full"]))
    two_folders(box)
    with box.device() as device:
        if shape == "uidnext":  # Play: UIDs 1 to 5, Work: 1 to 3
            device.append("Play", message(13, subject="p3"))
            device.append("Play", message(14, subject="p4"))
            expected = {"Play": "UIDNEXT went back", "Work": "holds another message"}
        else:  # the same UIDNEXT (7), but Work keeps UIDs 4 to 6 and Play 1 to 3
            for number in range(3, 6):
                device.append("Work", message(number, subject=f"w{number}"))
                device.append("Play", message(10 + number, subject=f"p{number}"))
            device.select_folder("Work")
            device.delete_messages([1, 2, 3])
            device.uid_expunge([1, 2, 3])
            device.select_folder("Play")
            device.delete_messages([4, 5, 6])
            device.uid_expunge([4, 5, 6])
            expected = {"Play": "none of the cached", "Work": "none of the cached"}
    run_sync(box, tmp_path)
    swap(box)
    with caplog.at_level("WARNING", logger="tuimail.sync.imap.identity"):
        result = run_sync(box, tmp_path)

    assert {f.name for f in result.folders if f.reset} == {"Work", "Play"}
    for name, why in expected.items():
        assert any(
            f"/{name}: " in record.getMessage() and why in record.getMessage()
            for record in caplog.records
        ), (name, why)
        assert stored_subjects(store, name) == server_subjects(box, name), name


def test_a_discarded_draft_never_deletes_the_message_that_took_its_uid(
    reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    """The server copy of a draft is recorded by UID: after Drafts and Notes (one UIDVALIDITY)
    swap names, that UID of the folder named Drafts is a note, which must stay."""
    box = new_mailbox(reduced_dovecot(without=frozenset()))
    with box.device() as device:
        for name in ("Drafts", "Notes"):
            if not device.folder_exists(name):
                device.create_folder(name)
    for name in ("Drafts", "Notes"):
        box.server.doveadm(  # type: ignore[attr-defined]
            "mailbox", "update", "-u", box.user, "--uid-validity", UIDVALIDITY, name
        )
    run_sync(box, tmp_path)
    account = read.account_id(store, ACCOUNT)
    assert account is not None
    me = Address("Me", f"{box.user}@tuimail.test")
    draft_id = drafts.save(
        store,
        account,
        Draft(from_=me, to=(me,), subject="half a thought", body="Text.\n"),
        message_id="swap-draft@tuimail.test",
    )
    password = lambda: box.password  # noqa: E731
    assert sync_drafts(box.account(), tmp_path, lambda event: None, password=password).uploaded
    stored = drafts.get(store, draft_id)
    assert stored is not None and stored.server is not None and stored.server.uid == 1
    with box.device() as device:
        device.append("Notes", message(1, subject="a note"))  # UID 1 there too
    for old, new in (("Drafts", "Swap"), ("Notes", "Drafts"), ("Swap", "Notes")):
        box.server.doveadm("mailbox", "rename", "-u", box.user, old, new)  # type: ignore[attr-defined]

    drafts.discard(store, draft_id)
    result = sync_drafts(box.account(), tmp_path, lambda event: None, password=password)
    assert result.error is None and result.removed == 1
    assert server_subjects(box, "Drafts") == {1: ("a note", frozenset())}


@pytest.mark.parametrize("case", ["mailboxid", "full"])
def test_a_server_search_never_shows_another_message_as_a_match(
    case: str,
    reduced_dovecot: ReducedDovecot,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    box = identity_box(case, reduced_dovecot, fault_proxy)
    two_folders(box)
    run_sync(box, tmp_path)
    work = read.folder(store, folder_id(store, "Work"))
    assert work is not None
    with engine(box, tmp_path) as sync:
        (found,) = search_folder(store, sync.client, work, "w1").ids
        assert found == row_by_subject(store, "Work", "w1")
    swap(box)

    # "p1" is UID 2 of the folder named Work now; the store's UID 2 there is w1.
    with engine(box, tmp_path) as sync, pytest.raises(ServerSearchError, match="sync it again"):
        search_folder(store, sync.client, work, "p1")
