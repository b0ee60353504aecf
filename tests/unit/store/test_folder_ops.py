"""The user's folder actions: the store changes at once; IMAP accounts journal them for the
replay, and a given-up op is taken back."""

from __future__ import annotations

import pytest

from tests.support.mailfactory import make_message
from tuimail.core.model import FolderRole, Protocol
from tuimail.store import db, folder_ops, ops, read, write
from tuimail.store.folder_ops import FolderOpError, FolderOpKind


def names(conn: db.StoreConnection, account_id: int) -> list[str]:
    return [f.name for f in read.folders(conn, account_id)]


@pytest.fixture
def lists(conn: db.StoreConnection, imap_account: int, inbox: int) -> int:
    """A folder "Lists" (delimiter ".") with a subfolder and two cached messages."""
    write.upsert_folder(conn, imap_account, "INBOX", delimiter=".", role=FolderRole.INBOX)
    folder = write.upsert_folder(conn, imap_account, "Lists", delimiter=".")
    write.update_folder_state(conn, folder, uidvalidity=9, uidnext=3)
    write.upsert_folder(conn, imap_account, "Lists.dev", delimiter=".")
    write.store_messages(
        conn,
        folder,
        [
            write.IncomingMessage(raw=make_message(message_id=f"{n}@x", subject=f"s{n}"), uid=n)
            for n in (1, 2)
        ],
    )
    return folder


def test_create_shows_the_folder_at_once_and_journals_it(
    conn: db.StoreConnection, imap_account: int, lists: int
) -> None:
    folder_id = folder_ops.create(conn, imap_account, "Projects.2026")
    info = read.folder(conn, folder_id)
    assert info is not None and info.name == "Projects.2026" and info.delimiter == "."
    (op,) = folder_ops.pending(conn, imap_account)
    assert (op.kind, op.name, op.folder_id) == (FolderOpKind.CREATE, "Projects.2026", folder_id)
    assert ops.count_pending(conn) == ops.count_pending(conn, imap_account) == 1, "status bar"
    # The folder list of a pass before the replay does not take it away.
    assert folder_ops.waiting_names(conn, imap_account) == ({"Projects.2026"}, set())


def test_create_adds_the_namespace_prefix(conn: db.StoreConnection, imap_account: int) -> None:
    write.upsert_folder(conn, imap_account, "INBOX", delimiter=".", role=FolderRole.INBOX)
    write.set_folder_prefix(conn, imap_account, "INBOX.")
    folder_id = folder_ops.create(conn, imap_account, "Work")
    info = read.folder(conn, folder_id)
    assert info is not None and info.name == "INBOX.Work" and info.display_name == "Work"


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("", "needs a name"),
        ("   ", "needs a name"),
        (".", "empty level"),
        ("a..b", "empty level"),
        ("a.", "empty level"),
        ("bad\x07name", "control characters"),
        ("bad\u202ename", "control characters"),
        ("x" * 300, "too long"),
        ("a*b", "cannot hold *"),
        ("Lists", "already"),
        ("inbox", "already"),
    ],
)
def test_invalid_names_are_refused_in_words(
    conn: db.StoreConnection, imap_account: int, lists: int, typed: str, words: str
) -> None:
    before = names(conn, imap_account)
    with pytest.raises(FolderOpError, match=words):
        folder_ops.create(conn, imap_account, typed)
    assert names(conn, imap_account) == before
    assert folder_ops.pending(conn, imap_account) == []


def test_rename_moves_subfolders_and_keeps_the_cached_messages(
    conn: db.StoreConnection, imap_account: int, lists: int
) -> None:
    before = read.message_ids(conn, lists)
    (flag_op,) = ops.enqueue(conn, ops.OpKind.SEEN, before[:1])
    folder_ops.rename(conn, lists, "Mailing lists")
    assert names(conn, imap_account) == ["INBOX", "Mailing lists", "Mailing lists.dev"]
    assert read.message_ids(conn, lists) == before, "same folder row, same messages"
    (op,) = folder_ops.pending(conn, imap_account)
    assert (op.name, op.new_name) == ("Lists", "Mailing lists")
    assert op.args["uidvalidity"] == 9 and op.args["uidnext"] == 3
    # The op queued before on its messages still names the folder (by id).
    assert ops.get(conn, flag_op).folder_id == lists  # type: ignore[union-attr]


@pytest.mark.parametrize("role", [FolderRole.SENT, FolderRole.TRASH, FolderRole.DRAFTS])
def test_special_folders_are_neither_renamed_nor_deleted(
    conn: db.StoreConnection, imap_account: int, role: FolderRole
) -> None:
    folder = write.upsert_folder(conn, imap_account, "Special", role=role)
    with pytest.raises(FolderOpError, match="cannot be renamed"):
        folder_ops.rename(conn, folder, "Other")
    with pytest.raises(FolderOpError, match="cannot be deleted"):
        folder_ops.delete(conn, folder)
    assert names(conn, imap_account) == ["Special"]


def test_inbox_is_never_renamed(conn: db.StoreConnection, imap_account: int, inbox: int) -> None:
    with pytest.raises(FolderOpError, match="inbox cannot be renamed"):
        folder_ops.rename(conn, inbox, "Old mail")


def test_a_folder_with_subfolders_is_not_deleted(
    conn: db.StoreConnection, imap_account: int, lists: int
) -> None:
    with pytest.raises(FolderOpError, match="holds 1 folder"):
        folder_ops.check_delete(conn, lists)


def test_delete_takes_the_messages_and_tells_how_many(
    conn: db.StoreConnection, imap_account: int, lists: int
) -> None:
    sub = read.find_folder(conn, imap_account, "Lists.dev")
    assert sub is not None
    folder_ops.delete(conn, sub.id)
    assert folder_ops.check_delete(conn, lists) == 2
    ops.enqueue(conn, ops.OpKind.SEEN, read.message_ids(conn, lists)[:1])
    ops.enqueue(conn, ops.OpKind.DELETE, read.message_ids(conn, lists)[1:])
    assert folder_ops.delete(conn, lists) == 1
    assert names(conn, imap_account) == ["INBOX"]
    assert [op.kind for op in folder_ops.pending(conn, imap_account)] == [
        FolderOpKind.DELETE,
        FolderOpKind.DELETE,
    ]
    assert ops.pending(conn, imap_account) == [], "nothing is left to mark read or delete"
    # The server holds the message deleted here too: it was shown, and goes with the folder.
    assert folder_ops.pending(conn, imap_account)[1].args["known"] == 2
    assert folder_ops.waiting_names(conn, imap_account) == (set(), {"Lists", "Lists.dev"})


def test_a_folder_whose_messages_wait_to_move_out_is_not_deleted(
    conn: db.StoreConnection, imap_account: int, inbox: int, lists: int
) -> None:
    sub = read.find_folder(conn, imap_account, "Lists.dev")
    assert sub is not None
    folder_ops.delete(conn, sub.id)
    ops.enqueue(conn, ops.OpKind.MOVE, read.message_ids(conn, lists)[:1], to_folder_id=inbox)
    with pytest.raises(FolderOpError, match="not reached the server"):
        folder_ops.delete(conn, lists)


def test_a_rename_given_up_is_taken_back(
    conn: db.StoreConnection, imap_account: int, lists: int
) -> None:
    folder_ops.rename(conn, lists, "Renamed")
    (op,) = folder_ops.pending(conn, imap_account)
    folder_ops.mark_failed(conn, op.id, "no permission", permanent=True)
    assert names(conn, imap_account) == ["INBOX", "Lists", "Lists.dev"]
    assert len(read.message_ids(conn, lists)) == 2
    (given_up,) = folder_ops.failed(conn, imap_account)
    assert given_up.last_error == "no permission"


def test_a_create_given_up_goes_unless_the_server_has_the_name(
    conn: db.StoreConnection, imap_account: int, lists: int
) -> None:
    folder_ops.create(conn, imap_account, "New")
    folder_ops.create(conn, imap_account, "Theirs")
    new, theirs = folder_ops.pending(conn, imap_account)
    folder_ops.mark_failed(conn, new.id, "refused", permanent=True)
    folder_ops.mark_failed(conn, theirs.id, "exists", permanent=True, on_server=True)
    assert names(conn, imap_account) == ["INBOX", "Lists", "Lists.dev", "Theirs"]


def test_local_and_pop3_accounts_change_their_folders_without_a_journal(
    conn: db.StoreConnection,
) -> None:
    for name, protocol in (("here", None), ("pop", Protocol.POP3)):
        account = write.ensure_account(conn, name, protocol)
        folder = folder_ops.create(conn, account, "Kept/2026")
        folder_ops.rename(conn, folder, "Kept/2025")
        assert names(conn, account) == ["Kept/2025"]
        folder_ops.delete(conn, folder)
        assert names(conn, account) == []
        assert folder_ops.pending(conn, account) == []
