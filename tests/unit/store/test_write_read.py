"""What engines write and what the UI reads back: accounts, folders, counts, order, changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.mailfactory import header_section, make_message
from tuimail.core.model import DELETED, FLAGGED, SEEN, FolderRole, Protocol
from tuimail.store import db, read, search, write
from tuimail.store.read import SortOrder


def counts(conn: db.StoreConnection, folder_id: int) -> tuple[int, int]:
    info = read.folder(conn, folder_id)
    assert info is not None
    return info.total, info.unread


def actual_counts(conn: db.StoreConnection, folder_id: int) -> tuple[int, int]:
    total, unread = conn.execute(
        "SELECT count(*), coalesce(sum(NOT seen), 0) FROM messages WHERE folder_id = ?",
        (folder_id,),
    ).fetchone()
    return int(total), int(unread)


def test_ensure_account_is_idempotent_and_keeps_its_protocol(conn: db.StoreConnection) -> None:
    first = write.ensure_account(conn, "work", Protocol.IMAP)
    assert write.ensure_account(conn, "work", Protocol.IMAP) == first
    with pytest.raises(db.StoreError, match="downloaded over imap"):
        write.ensure_account(conn, "work", Protocol.POP3)
    with pytest.raises(ValueError, match="IMAP or POP3"):
        write.ensure_account(conn, "mailer", Protocol.SMTP)
    assert [(a.name, a.protocol) for a in read.accounts(conn)] == [("work", Protocol.IMAP)]
    assert read.account_id(conn, "work") == first
    assert read.account_id(conn, "nobody") is None


def test_folders_upsert_and_list_inbox_first(conn: db.StoreConnection, imap_account: int) -> None:
    archive = write.upsert_folder(conn, imap_account, "Archive", delimiter="/")
    inbox = write.upsert_folder(conn, imap_account, "INBOX", delimiter="/")
    assert write.upsert_folder(conn, imap_account, "Archive", role=FolderRole.ARCHIVE) == archive
    listed = read.folders(conn, imap_account)
    assert [f.name for f in listed] == ["INBOX", "Archive"]
    assert listed[1].role == FolderRole.ARCHIVE and listed[1].delimiter is None
    assert listed[0].account == "work"
    assert read.find_folder(conn, imap_account, "inbox") == listed[0]
    assert read.find_folder(conn, imap_account, "archive") is None  # only INBOX ignores case
    assert read.find_folder(conn, imap_account, "Archive") == listed[1]
    assert read.folders(conn) == listed
    assert inbox == listed[0].id


def test_folder_sync_state_set_and_cleared(conn: db.StoreConnection, inbox: int) -> None:
    synced = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    write.update_folder_state(
        conn, inbox, uidnext=100, highestmodseq=5000, sync_resume="low=40", last_sync=synced
    )
    write.update_folder_state(conn, inbox, sync_resume=None)  # others stay as they are
    info = read.folder(conn, inbox)
    assert info is not None
    assert (info.uidvalidity, info.uidnext, info.highestmodseq) == (7, 100, 5000)
    assert info.sync_resume is None
    assert info.last_sync == synced
    with pytest.raises(db.StoreError, match="folder 999"):
        write.update_folder_state(conn, 999, uidnext=1)
    write.update_folder_state(conn, inbox, uidvalidity=7)  # the same value is fine
    with pytest.raises(db.StoreError, match="UIDVALIDITY 7"):
        write.update_folder_state(conn, inbox, uidvalidity=8)  # a change needs reset_folder


def test_folder_errors_are_recorded_and_cleared(conn: db.StoreConnection, inbox: int) -> None:
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    write.record_folder_error(conn, inbox, "the server closed the connection", now=when)
    info = read.folder(conn, inbox)
    assert info is not None
    assert info.last_error == "the server closed the connection" and info.last_error_at == when
    write.record_folder_error(conn, inbox, None)
    info = read.folder(conn, inbox)
    assert info is not None and info.last_error is None and info.last_error_at is None


def test_what_is_so_already_writes_nothing(conn: db.StoreConnection, imap_account: int) -> None:
    """A folder as it is, an error cleared before: what a sync with nothing new asks for again
    and again writes nothing (no revision for the app to follow, no disk sync); a change still
    does. (The account is written: a pass starts there, see the next test.)"""
    archive = write.upsert_folder(conn, imap_account, "Archive", delimiter="/", subscribed=True)
    write.record_folder_error(conn, archive, None)
    before = read.revision(conn)
    assert write.upsert_folder(conn, imap_account, "Archive", delimiter="/") == archive
    assert write.upsert_folder(conn, imap_account, "Archive", delimiter="/", subscribed=True) == (
        archive
    )
    write.record_folder_error(conn, archive, None)
    assert read.revision(conn) == before
    write.upsert_folder(conn, imap_account, "Archive", delimiter="/", subscribed=False)
    assert read.revision(conn) > before
    listed = read.folders(conn, imap_account)
    assert [(f.name, f.delimiter, f.subscribed) for f in listed] == [("Archive", "/", False)]
    with pytest.raises(db.StoreError, match="folder 999"):
        write.record_folder_error(conn, 999, None)


def test_the_account_is_written_even_when_it_is_there(
    conn: db.StoreConnection, imap_account: int
) -> None:
    """An engine's pass starts with `ensure_account`: a store it cannot write to (locked, a full
    disk) fails it there, before anything is done on the server the store could not record."""
    before = read.revision(conn)
    assert write.ensure_account(conn, "work", Protocol.IMAP) == imap_account
    assert read.revision(conn) > before


def test_rename_keeps_the_messages(conn: db.StoreConnection, imap_account: int) -> None:
    folder = write.upsert_folder(conn, imap_account, "Old")
    message_id = write.store_message(conn, folder, raw=make_message(), uid=1)
    write.rename_folder(conn, folder, "New")
    found = read.find_folder(conn, imap_account, "New")
    assert found is not None and found.id == folder
    assert read.message_ids(conn, folder) == [message_id]


def test_counts_follow_every_change(conn: db.StoreConnection, inbox: int) -> None:
    ids = [
        write.store_message(
            conn, inbox, raw=make_message(message_id=f"{n}@x"), uid=n, flags=[SEEN] if n < 3 else []
        )
        for n in range(1, 6)
    ]
    assert counts(conn, inbox) == (5, 3)
    assert write.set_flags(conn, inbox, {3: [SEEN], 1: []}) == 2
    assert counts(conn, inbox) == (5, 3)
    assert write.set_flags(conn, inbox, {4: [SEEN, FLAGGED]}) == 1
    assert counts(conn, inbox) == (5, 2)
    assert write.expunge_uids(conn, inbox, [1, 2, 77]) == 2
    assert counts(conn, inbox) == (3, 1)
    assert counts(conn, inbox) == actual_counts(conn, inbox)
    assert read.message_ids(conn, inbox, order=SortOrder.DATE) == sorted(ids[2:], reverse=True)


def test_set_flags_touches_only_changed_rows(conn: db.StoreConnection, inbox: int) -> None:
    for n in range(1, 4):
        write.store_message(conn, inbox, raw=make_message(message_id=f"{n}@x"), uid=n)
    since = read.revision(conn)
    changed = write.set_flags(conn, inbox, {1: [], 2: ["\\flagged"], 3: []})
    assert changed == 1
    assert read.changes_since(conn, since).messages == {read.message_id_by_uid(conn, inbox, 2)}
    assert read.uid_flags(conn, inbox) == {1: frozenset(), 2: {FLAGGED}, 3: frozenset()}


def test_reset_folder_keeps_local_only_messages(
    conn: db.StoreConnection, inbox: int, imap_account: int
) -> None:
    local = write.store_message(conn, inbox, raw=make_message(message_id="local@x"))
    write.store_message(conn, inbox, raw=make_message(message_id="srv@x"), uid=1)
    write.update_folder_state(conn, inbox, uidnext=2, highestmodseq=9, sync_resume="x")
    assert write.reset_folder(conn, inbox, uidvalidity=99) == 1
    info = read.folder(conn, inbox)
    assert info is not None
    assert (info.uidvalidity, info.uidnext, info.highestmodseq, info.sync_resume) == (
        99,
        None,
        None,
        None,
    )
    assert read.message_ids(conn, inbox) == [local]
    assert counts(conn, inbox) == (1, 1)


def test_assign_uid_after_a_local_move(conn: db.StoreConnection, inbox: int) -> None:
    message_id = write.store_message(conn, inbox, raw=make_message())
    write.assign_uid(conn, message_id, 42)
    assert read.message_id_by_uid(conn, inbox, 42) == message_id
    assert read.uid_flags(conn, inbox) == {42: frozenset()}
    with pytest.raises(db.StoreError):
        write.assign_uid(conn, 999, 1)


def test_message_order_by_each_key(conn: db.StoreConnection, inbox: int) -> None:
    specs = [
        # (uid, subject, sender, date, body padding)
        (1, "Re: banana", "Carol <c@x>", "Mon, 02 Mar 2026 10:00:00 +0000", 10),
        (2, "apple", "alice <a@x>", "Tue, 03 Mar 2026 10:00:00 +0000", 300),
        (3, "cherry", "Bob <b@x>", "Sun, 01 Mar 2026 10:00:00 +0000", 100),
    ]
    ids = {
        uid: write.store_message(
            conn,
            inbox,
            raw=make_message(
                message_id=f"{uid}@x", subject=subject, sender=sender, date=date, body="x" * pad
            ),
            uid=uid,
        )
        for uid, subject, sender, date, pad in specs
    }
    by = {uid: ids[uid] for uid in ids}
    assert read.message_ids(conn, inbox) == [by[2], by[1], by[3]]
    assert read.message_ids(conn, inbox, descending=False) == [by[3], by[1], by[2]]
    assert read.message_ids(conn, inbox, order=SortOrder.SENDER, descending=False) == [
        by[2],
        by[3],
        by[1],
    ]
    assert read.message_ids(conn, inbox, order=SortOrder.SUBJECT, descending=False) == [
        by[2],
        by[1],
        by[3],
    ]
    assert read.message_ids(conn, inbox, order=SortOrder.SIZE) == [by[2], by[3], by[1]]


def test_unified_inbox_over_several_folders(conn: db.StoreConnection, inbox: int) -> None:
    home = write.ensure_account(conn, "home", Protocol.POP3)
    home_inbox = write.upsert_folder(conn, home, "INBOX")
    older = write.store_message(
        conn, inbox, raw=make_message(date="Sun, 01 Mar 2026 10:00:00 +0000"), uid=1
    )
    newer = write.store_message(
        conn, home_inbox, raw=make_message(date="Mon, 02 Mar 2026 10:00:00 +0000"), uidl="u1"
    )
    assert read.message_ids(conn, [inbox, home_inbox]) == [newer, older]
    assert read.message_ids(conn, []) == []


def test_rows_come_in_the_order_asked(conn: db.StoreConnection, inbox: int) -> None:
    ids = write.store_messages(
        conn,
        inbox,
        [
            write.IncomingMessage(raw=make_message(message_id=f"{n}@x"), uid=n)
            for n in range(1, 1200)
        ],
    )
    wanted = [ids[5], 99999, ids[1100], ids[0], ids[5]]
    got = read.rows(conn, wanted)
    assert [r.id for r in got] == [ids[5], ids[1100], ids[0], ids[5]]
    assert len(read.rows(conn, ids)) == len(ids)  # more ids than one statement takes


def test_changes_since_reports_changes_and_deletions(
    conn: db.StoreConnection, inbox: int, imap_account: int
) -> None:
    kept = write.store_message(conn, inbox, raw=make_message(message_id="k@x"), uid=1)
    dropped = write.store_message(conn, inbox, raw=make_message(message_id="d@x"), uid=2)
    since = read.revision(conn)
    nothing = read.changes_since(conn, since)
    assert not (nothing.messages or nothing.messages_gone or nothing.folders or nothing.reload)
    write.expunge_uids(conn, inbox, [2])
    changes = read.changes_since(conn, since)
    assert changes.revision == read.revision(conn) > since
    assert changes.messages_gone == {dropped}
    assert changes.folders == {inbox}  # its counts changed
    assert kept not in changes.messages

    other = write.upsert_folder(conn, imap_account, "Other")
    write.store_message(conn, other, raw=make_message(), uid=1)
    before_delete = read.revision(conn)
    write.delete_folder(conn, other)
    gone = read.changes_since(conn, before_delete)
    assert gone.folders_gone == {other}
    assert len(gone.messages_gone) == 1


def test_pruned_tombstones_ask_for_a_reload(conn: db.StoreConnection, inbox: int) -> None:
    write.store_message(conn, inbox, raw=make_message(), uid=1)
    old = read.revision(conn)
    write.expunge_uids(conn, inbox, [1])
    assert db.prune_tombstones(conn, read.revision(conn)) == 1
    assert read.changes_since(conn, old).reload
    assert not read.changes_since(conn, read.revision(conn)).reload


def test_opening_the_store_drops_tombstones_older_than_the_margin(
    data_dir: Path, conn: db.StoreConnection, inbox: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "TOMBSTONE_MARGIN", 5, raising=False)
    write.store_message(conn, inbox, raw=make_message(message_id="a@x"), uid=1)
    recent = write.store_message(conn, inbox, raw=make_message(message_id="b@x"), uid=2)
    before = read.revision(conn)
    write.expunge_uids(conn, inbox, [1])  # its tombstone ages past the margin
    for uid in range(3, 9):
        write.store_message(conn, inbox, raw=make_message(message_id=f"{uid}@x"), uid=uid)
    recently = read.revision(conn)
    write.expunge_uids(conn, inbox, [2])  # within the margin
    conn.close()

    reopened = db.open_store(data_dir)
    try:
        tombstones = reopened.execute("SELECT count(*) FROM tombstones").fetchone()[0]
        assert tombstones == 1
        assert read.changes_since(reopened, before).reload  # too far behind: read everything
        changes = read.changes_since(reopened, recently)
        assert not changes.reload
        assert changes.messages_gone == {recent}
    finally:
        reopened.close()


def test_deleting_an_account_cascades_everywhere(
    conn: db.StoreConnection, inbox: int, imap_account: int
) -> None:
    message_id = write.store_message(conn, inbox, raw=make_message(subject="zebra"), uid=1)
    since = read.revision(conn)
    write.delete_account(conn, imap_account)
    for table in ("folders", "messages", "bodies", "message_refs", "pending_ops", "outbox"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table  # noqa: S608
    assert search.search(conn, "zebra") == []
    changes = read.changes_since(conn, since)
    assert changes.accounts_gone == {imap_account}
    assert changes.folders_gone == {inbox}
    assert changes.messages_gone == {message_id}


def test_ids_are_never_reused(conn: db.StoreConnection, inbox: int) -> None:
    first = write.store_message(conn, inbox, raw=make_message(), uid=1)
    write.expunge_uids(conn, inbox, [1])
    second = write.store_message(conn, inbox, raw=make_message(), uid=1)
    assert second > first


def test_body_of_an_unknown_message_is_none(conn: db.StoreConnection, inbox: int) -> None:
    raw = make_message()
    message_id = write.store_message(conn, inbox, header_bytes=header_section(raw), uid=1)
    assert read.body(conn, message_id) is None
    assert read.body(conn, 12345) is None
    assert read.row(conn, 12345) is None


def test_deleted_flag_is_kept_until_expunged(conn: db.StoreConnection, inbox: int) -> None:
    write.store_message(conn, inbox, raw=make_message(), uid=1)
    write.set_flags(conn, inbox, {1: [DELETED]})
    assert read.uid_flags(conn, inbox) == {1: {DELETED}}
    assert counts(conn, inbox) == (1, 1)
