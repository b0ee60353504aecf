"""The journal of user actions: local effect at once, journal entries for IMAP accounts only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.mailfactory import make_message
from tuimail.core.model import DELETED, FLAGGED, SEEN, FolderRole, Protocol
from tuimail.store import db, ops, read, search, write
from tuimail.store.ops import OpKind, OpState, OpTarget

NOW = datetime(2026, 3, 5, 8, 0, 0, tzinfo=UTC)


@pytest.fixture
def messages(conn: db.StoreConnection, inbox: int) -> list[int]:
    """Three messages in the IMAP INBOX with UIDs 1..3, unread."""
    return write.store_messages(
        conn,
        inbox,
        [
            write.IncomingMessage(raw=make_message(message_id=f"{n}@x", subject=f"s{n}"), uid=n)
            for n in (1, 2, 3)
        ],
    )


@pytest.fixture
def archive(conn: db.StoreConnection, imap_account: int) -> int:
    folder = write.upsert_folder(conn, imap_account, "Archive", role=FolderRole.ARCHIVE)
    write.update_folder_state(conn, folder, uidvalidity=11)
    return folder


def flags_of(conn: db.StoreConnection, message_id: int) -> frozenset[str]:
    found = read.row(conn, message_id)
    assert found is not None
    return found.flags


def test_seen_applies_at_once_and_is_journaled(
    conn: db.StoreConnection, inbox: int, imap_account: int, messages: list[int]
) -> None:
    since = read.revision(conn)
    (op_id,) = ops.enqueue(conn, OpKind.SEEN, [messages[1], messages[0]], now=NOW)
    assert flags_of(conn, messages[0]) == {SEEN}
    assert flags_of(conn, messages[2]) == frozenset()
    info = read.folder(conn, inbox)
    assert info is not None and info.unread == 1
    (entry,) = ops.pending(conn, imap_account)
    assert entry.id == op_id
    assert entry.kind == OpKind.SEEN and entry.state == OpState.PENDING
    assert entry.folder_id == inbox and entry.uidvalidity == 7
    assert entry.targets == (OpTarget(messages[1], 2), OpTarget(messages[0], 1))
    assert entry.created == NOW and entry.attempts == 0
    assert read.changes_since(conn, since).messages == {messages[0], messages[1]}
    assert ops.count_pending(conn) == ops.count_pending(conn, imap_account) == 1


def test_flag_and_unflag_keywords(
    conn: db.StoreConnection, imap_account: int, messages: list[int]
) -> None:
    ops.enqueue(conn, OpKind.FLAG, messages[:1], flag=FLAGGED)
    ops.enqueue(conn, OpKind.FLAG, messages[:1], flag="$Work")
    assert flags_of(conn, messages[0]) == {FLAGGED, "$Work"}
    ops.enqueue(conn, OpKind.UNFLAG, messages[:1], flag=FLAGGED)
    assert flags_of(conn, messages[0]) == {"$Work"}
    ops.enqueue(conn, OpKind.UNSEEN, messages[:1])
    entries = ops.pending(conn, imap_account)
    # Each op says which message it is for, not only its UID (the replay checks it).
    which = {"message_id_headers": ["1@x"]}
    assert [(e.kind, e.args) for e in entries] == [
        (OpKind.FLAG, {"flag": FLAGGED, **which}),
        (OpKind.FLAG, {"flag": "$Work", **which}),
        (OpKind.UNFLAG, {"flag": FLAGGED, **which}),
        (OpKind.UNSEEN, which),
    ]


def test_move_takes_the_message_to_the_target_without_a_uid(
    conn: db.StoreConnection, inbox: int, archive: int, imap_account: int, messages: list[int]
) -> None:
    (op_id,) = ops.enqueue(conn, OpKind.MOVE, [messages[0]], to_folder_id=archive)
    moved = read.row(conn, messages[0])
    assert moved is not None
    assert moved.folder_id == archive and moved.uid is None
    assert read.message_ids(conn, archive) == [messages[0]]
    assert messages[0] not in read.message_ids(conn, inbox)
    assert [(f.name, f.total) for f in read.folders(conn, imap_account)] == [
        ("INBOX", 2),
        ("Archive", 1),
    ]
    (entry,) = ops.pending(conn, imap_account)
    assert entry.id == op_id
    assert entry.folder_id == inbox
    assert entry.targets == (OpTarget(messages[0], 1),)  # the UID in the source folder
    # The Message-ID goes with it: the replay finds the copy by it where no UID is told.
    assert entry.args == {"to_folder_id": archive, "message_id_headers": ["1@x"]}
    write.assign_uid(conn, messages[0], 500)  # the replay learned the new UID (COPYUID)
    assert read.message_id_by_uid(conn, archive, 500) == messages[0]


def test_copy_duplicates_row_body_and_index(
    conn: db.StoreConnection, inbox: int, archive: int, imap_account: int, messages: list[int]
) -> None:
    (op_id,) = ops.enqueue(conn, OpKind.COPY, [messages[2]], to_folder_id=archive)
    (copy,) = read.message_ids(conn, archive)
    assert copy != messages[2]
    original, duplicate = read.rows(conn, [messages[2], copy])
    assert duplicate.envelope == original.envelope
    assert duplicate.thread_id == original.thread_id
    assert duplicate.uid is None
    assert read.body(conn, copy) == read.body(conn, messages[2])
    assert sorted(search.search(conn, "s3")) == sorted([messages[2], copy])
    (entry,) = ops.pending(conn, imap_account)
    assert entry.id == op_id
    assert entry.args["to_folder_id"] == archive and entry.args["copies"] == [copy]
    assert read.message_ids(conn, inbox) == sorted(messages, reverse=True)


def test_delete_removes_locally_and_journals_the_uids(
    conn: db.StoreConnection, inbox: int, imap_account: int, messages: list[int]
) -> None:
    since = read.revision(conn)
    ops.enqueue(conn, OpKind.DELETE, messages[:2])
    assert read.message_ids(conn, inbox) == [messages[2]]
    assert read.changes_since(conn, since).messages_gone == set(messages[:2])
    (entry,) = ops.pending(conn, imap_account)
    assert [t.uid for t in entry.targets] == [1, 2]


def test_expunge_removes_only_deleted_messages(
    conn: db.StoreConnection, inbox: int, messages: list[int]
) -> None:
    ops.enqueue(conn, OpKind.FLAG, messages[:1], flag=DELETED)
    ops.enqueue(conn, OpKind.EXPUNGE, messages)
    assert read.message_ids(conn, inbox) == [messages[2], messages[1]]


def test_ops_split_per_source_folder(
    conn: db.StoreConnection, inbox: int, archive: int, imap_account: int, messages: list[int]
) -> None:
    ops.enqueue(conn, OpKind.MOVE, [messages[0]], to_folder_id=archive)
    ids = ops.enqueue(conn, OpKind.FLAG, [messages[0], messages[1]], flag=FLAGGED)
    assert len(ids) == 2
    entries = ops.pending(conn, imap_account)[1:]
    assert [(e.folder_id, e.targets) for e in entries] == [
        (archive, (OpTarget(messages[0], None),)),  # moved: its new UID is not known yet
        (inbox, (OpTarget(messages[1], 2),)),
    ]


def test_local_and_pop3_accounts_have_nothing_to_replay(conn: db.StoreConnection) -> None:
    for name, protocol in (("local", None), ("home", Protocol.POP3)):
        account = write.ensure_account(conn, name, protocol)
        folder = write.upsert_folder(conn, account, "INBOX")
        message_id = write.store_message(conn, folder, raw=make_message(), uidl=f"{name}-1")
        assert ops.enqueue(conn, OpKind.SEEN, [message_id]) == []
        assert flags_of(conn, message_id) == {SEEN}
        assert ops.enqueue(conn, OpKind.DELETE, [message_id]) == []
        assert read.message_ids(conn, folder) == []
        assert ops.pending(conn, account) == []
        # The POP3 UIDL stays known, so the message is not downloaded again.
        assert f"{name}-1" in read.known_uidls(conn, account)


def test_moves_stay_within_the_account(
    conn: db.StoreConnection, messages: list[int], imap_account: int
) -> None:
    other = write.ensure_account(conn, "home", Protocol.IMAP)
    elsewhere = write.upsert_folder(conn, other, "INBOX")
    with pytest.raises(db.StoreError, match="within their account"):
        ops.enqueue(conn, OpKind.MOVE, messages[:1], to_folder_id=elsewhere)
    assert ops.pending(conn, imap_account) == []
    found = read.row(conn, messages[0])
    assert found is not None and found.folder_id != elsewhere


def test_moving_to_the_same_folder_does_nothing(
    conn: db.StoreConnection, inbox: int, imap_account: int, messages: list[int]
) -> None:
    assert ops.enqueue(conn, OpKind.MOVE, messages, to_folder_id=inbox) == []
    assert ops.pending(conn, imap_account) == []


@pytest.mark.parametrize(
    ("kind", "kwargs", "error"),
    [
        (OpKind.FLAG, {}, "flag is required"),
        (OpKind.SEEN, {"flag": SEEN}, "flag is not accepted"),
        (OpKind.FLAG, {"flag": "two words"}, "not a valid flag"),
        (OpKind.MOVE, {}, "to_folder_id is required"),
        (OpKind.DELETE, {"to_folder_id": 1}, "to_folder_id is not accepted"),
    ],
)
def test_bad_arguments(
    conn: db.StoreConnection,
    messages: list[int],
    kind: OpKind,
    kwargs: dict[str, object],
    error: str,
) -> None:
    with pytest.raises(ValueError, match=error):
        ops.enqueue(conn, kind, messages, **kwargs)  # type: ignore[arg-type]


def test_done_failed_retry_and_folder_failure(
    conn: db.StoreConnection, inbox: int, imap_account: int, messages: list[int]
) -> None:
    first, second, third = (
        ops.enqueue(conn, OpKind.SEEN, [message_id])[0] for message_id in messages
    )
    ops.mark_done(conn, first)
    ops.mark_failed(conn, second, "NO [SERVERBUG] try later", now=NOW)
    pending = {e.id: e for e in ops.pending(conn, imap_account)}
    assert set(pending) == {second, third}
    assert pending[second].attempts == 1
    assert pending[second].last_error == "NO [SERVERBUG] try later"
    assert pending[second].updated == NOW
    ops.mark_failed(conn, second, "NO [NONEXISTENT] gone", permanent=True)
    assert [e.id for e in ops.failed(conn, imap_account)] == [second]
    ops.retry(conn, second)
    assert {e.id for e in ops.pending(conn, imap_account)} == {second, third}
    with pytest.raises(db.StoreError):
        ops.retry(conn, second)  # not failed any more
    assert len(ops.fail_folder(conn, inbox, "UIDVALIDITY changed")) == 2
    assert ops.pending(conn, imap_account) == []
    assert {e.last_error for e in ops.failed(conn, imap_account)} == {"UIDVALIDITY changed"}
    ops.discard(conn, third)
    assert [e.id for e in ops.failed(conn, imap_account)] == [second]
    with pytest.raises(db.StoreError):
        ops.mark_failed(conn, 9999, "x")


def test_messages_gone_before_the_op_are_skipped(
    conn: db.StoreConnection, inbox: int, imap_account: int, messages: list[int]
) -> None:
    write.expunge_uids(conn, inbox, [1])
    (op_id,) = ops.enqueue(conn, OpKind.SEEN, [messages[0], messages[1], 12345])
    (entry,) = ops.pending(conn, imap_account)
    assert entry.id == op_id and entry.targets == (OpTarget(messages[1], 2),)
    assert ops.enqueue(conn, OpKind.SEEN, [12345]) == []


def test_a_later_op_on_a_moved_message_gets_its_uid_once_known(
    conn: db.StoreConnection, inbox: int, archive: int, imap_account: int, messages: list[int]
) -> None:
    """Flagged in the Archive before the move was replayed: the flag op names the message with
    no UID; when the move's replay learns the UID, the flag op gets it (and only that op)."""
    (move_op,) = ops.enqueue(conn, OpKind.MOVE, [messages[0], messages[1]], to_folder_id=archive)
    (flag_op,) = ops.enqueue(conn, OpKind.FLAG, [messages[0], messages[1]], flag=FLAGGED)
    (seen_op,) = ops.enqueue(conn, OpKind.SEEN, [messages[2]])
    entry = ops.get(conn, flag_op)
    assert entry is not None and entry.folder_id == archive
    assert entry.targets == (OpTarget(messages[0], None), OpTarget(messages[1], None))

    assert ops.resolve_placeholder(conn, archive, messages[0], 41, after_op=move_op) == 1
    assert ops.resolve_placeholder(conn, inbox, messages[1], 99, after_op=move_op) == 0, (
        "another folder's op"
    )
    entry = ops.get(conn, flag_op)
    assert entry is not None
    assert entry.targets == (OpTarget(messages[0], 41), OpTarget(messages[1], None))
    untouched = ops.get(conn, seen_op)
    assert untouched is not None and untouched.targets == (OpTarget(messages[2], 3),)
    ops.mark_done(conn, flag_op)
    assert ops.get(conn, flag_op) is None


def test_a_message_moved_back_into_a_folder_gets_each_stay_its_own_uid(
    conn: db.StoreConnection, inbox: int, archive: int, imap_account: int, messages: list[int]
) -> None:
    """Inbox -> Archive -> Inbox -> Archive, then flagged: the UID the first move gives it in
    the Archive is for the move out only; the flag waits for the UID of the second stay."""
    row = messages[0]
    first, out, back, again = (
        ops.enqueue(conn, OpKind.MOVE, [row], to_folder_id=to)[0]
        for to in (archive, inbox, archive, inbox)
    )
    (flag_op,) = ops.enqueue(conn, OpKind.FLAG, [row], flag=FLAGGED)

    assert ops.resolve_placeholder(conn, archive, row, 41, after_op=first) == 1
    assert not ops.stays(conn, archive, row, first)
    assert [t.uid for t in ops.get(conn, out).targets] == [41]  # type: ignore[union-attr]
    assert [t.uid for t in ops.get(conn, again).targets] == [None]  # type: ignore[union-attr]
    assert ops.resolve_placeholder(conn, inbox, row, 7, after_op=out) == 1
    assert [t.uid for t in ops.get(conn, back).targets] == [7]  # type: ignore[union-attr]
    assert ops.resolve_placeholder(conn, inbox, row, 8, after_op=again) == 1
    assert ops.stays(conn, inbox, row, again)
    assert [t.uid for t in ops.get(conn, flag_op).targets] == [8]  # type: ignore[union-attr]


def test_a_copy_keeps_a_partial_body(
    conn: db.StoreConnection, inbox: int, archive: int, messages: list[int]
) -> None:
    with conn:
        conn.execute(
            "INSERT INTO partial_bodies (message_id, raw, omitted) VALUES (?, ?, ?)",
            (messages[0], b"Subject: s1\r\n\r\ntext\r\n", '[{"section": "2"}]'),
        )
    (op_id,) = ops.enqueue(conn, OpKind.COPY, [messages[0]], to_folder_id=archive)
    entry = ops.get(conn, op_id)
    assert entry is not None
    (copy,) = entry.args["copies"]
    assert conn.execute(
        "SELECT raw, omitted FROM partial_bodies WHERE message_id = ?", (copy,)
    ).fetchone() == (b"Subject: s1\r\n\r\ntext\r\n", '[{"section": "2"}]')


def _placed(conn: db.StoreConnection, message_id: int) -> tuple[int, int | None] | None:
    found = read.row(conn, message_id)
    return None if found is None else (found.folder_id, found.uid)


def test_a_move_given_up_goes_back_under_its_uid_or_goes(
    conn: db.StoreConnection, inbox: int, archive: int, messages: list[int]
) -> None:
    back, named, renumbered = messages
    (first,) = ops.enqueue(conn, OpKind.MOVE, [back, named], to_folder_id=archive)
    ops.enqueue(conn, OpKind.FLAG, [named], flag=FLAGGED)  # acts on it in Archive, later
    write.update_folder_state(conn, inbox, highestmodseq=40)
    ops.mark_failed(conn, first, "refused", permanent=True)
    assert _placed(conn, back) == (inbox, 1), "back where the server has it"
    assert _placed(conn, named) == (archive, None), "a later op still names it"
    info = read.folder(conn, inbox)
    assert info is not None and info.highestmodseq is None, "the next sync takes the full path"

    # Not back under a UID the folder no longer stands for, nor one another row holds.
    (second,) = ops.enqueue(conn, OpKind.MOVE, [renumbered], to_folder_id=archive)
    ops.mark_failed(conn, second, "renumbered", permanent=True, source_valid=False)
    assert _placed(conn, renumbered) is None
    (third,) = ops.enqueue(conn, OpKind.MOVE, [back], to_folder_id=archive)
    (other,) = write.store_messages(
        conn, inbox, [write.IncomingMessage(raw=make_message(message_id="9@x"), uid=1)]
    )
    ops.mark_failed(conn, third, "refused", permanent=True)
    assert _placed(conn, back) is None and _placed(conn, other) == (inbox, 1)


def test_a_copy_given_up_loses_its_copies_and_a_delete_is_fetched_again(
    conn: db.StoreConnection, inbox: int, archive: int, messages: list[int]
) -> None:
    (copy_op,) = ops.enqueue(conn, OpKind.COPY, messages[:2], to_folder_id=archive)
    copies = ops.get(conn, copy_op).args["copies"]  # type: ignore[union-attr]
    ops.mark_failed(conn, copy_op, "refused", permanent=True)
    assert [_placed(conn, c) for c in copies] == [None, None]
    assert [_placed(conn, m) for m in messages[:2]] == [(inbox, 1), (inbox, 2)]

    (delete_op,) = ops.enqueue(conn, OpKind.DELETE, messages[2:])
    write.update_folder_state(conn, inbox, highestmodseq=41)
    (given_up,) = ops.fail_folder(conn, inbox, "renumbered")
    assert given_up.id == delete_op
    info = read.folder(conn, inbox)
    # The folder's rebuild (by the engine, with fail_folder) fetches it; nothing to resync here.
    assert info is not None and info.highestmodseq == 41
