"""Ingest: envelope columns, bodies, keys and idempotency, threading at store time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.mailfactory import header_section, make_message
from tuimail.core.model import SEEN, Address, FolderRole, Protocol
from tuimail.store import conversations, db, ingest, read, search, write

NOW = datetime(2026, 3, 5, 8, 0, 0, tzinfo=UTC)


def thread_of(conn: db.StoreConnection, message_id: int) -> int:
    found = read.row(conn, message_id)
    assert found is not None
    return found.thread_id


def test_store_a_whole_message(conn: db.StoreConnection, inbox: int) -> None:
    raw = make_message(subject="Lunch?", body="Caf\u00e9 at noon\r\n")
    message_id = write.store_message(conn, inbox, raw=raw, uid=10, flags=["\\seen"])
    found = read.row(conn, message_id)
    assert found is not None
    assert found.uid == 10 and found.uidl is None
    assert found.envelope.subject == "Lunch?"
    assert found.envelope.from_ == (Address("Alice Example", "alice@example.org"),)
    assert found.envelope.to == (Address("Bob", "bob@example.org"),)
    assert found.envelope.message_id == "m1@example.org"
    assert found.envelope.date == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert found.envelope.size == len(raw)
    assert found.flags == {SEEN}
    assert found.body_local
    assert read.body(conn, message_id) == raw
    assert search.search(conn, "cafe") == [message_id]  # body text indexed, diacritics folded


def test_headers_first_then_the_body(conn: db.StoreConnection, inbox: int) -> None:
    raw = make_message(body="the secret word is marmalade\r\n", attachment=b"\x00" * 100)
    message_id = write.store_message(
        conn, inbox, header_bytes=header_section(raw), uid=3, size=len(raw)
    )
    found = read.row(conn, message_id)
    assert found is not None
    assert not found.body_local
    assert found.envelope.size == len(raw)
    assert read.body(conn, message_id) is None
    assert search.search(conn, "marmalade") == []
    assert search.search(conn, "bob") == [message_id]  # addresses are indexed at once

    since = read.revision(conn)
    write.store_body(conn, message_id, raw)
    after = read.row(conn, message_id)
    assert after is not None
    assert after.body_local and after.envelope.has_attachments
    assert read.body(conn, message_id) == raw
    assert search.search(conn, "marmalade") == [message_id]
    assert read.changes_since(conn, since).messages == {message_id}

    write.store_body(conn, message_id, b"different bytes")  # already local: nothing changes
    assert read.body(conn, message_id) == raw


def test_store_body_of_a_missing_message(conn: db.StoreConnection) -> None:
    with pytest.raises(db.StoreError, match="not in the store"):
        write.store_body(conn, 999, make_message())


def test_same_uid_twice_is_one_message(conn: db.StoreConnection, inbox: int) -> None:
    raw = make_message()
    first = write.store_message(conn, inbox, header_bytes=header_section(raw), uid=5)
    again = write.store_message(conn, inbox, header_bytes=header_section(raw), uid=5)
    assert again == first
    filled = write.store_message(conn, inbox, raw=raw, uid=5)  # a retried full fetch
    assert filled == first
    assert read.body(conn, first) == raw
    assert read.message_ids(conn, inbox) == [first]
    info = read.folder(conn, inbox)
    assert info is not None and info.total == 1


def test_a_new_uidvalidity_is_a_new_key(conn: db.StoreConnection, inbox: int) -> None:
    old = write.store_message(conn, inbox, raw=make_message(), uid=5)
    write.reset_folder(conn, inbox, uidvalidity=8)
    assert read.row(conn, old) is None
    new = write.store_message(conn, inbox, raw=make_message(), uid=5)
    assert new != old
    assert read.message_id_by_uid(conn, inbox, 5) == new


def test_pop3_uidl_is_the_key_and_is_remembered(conn: db.StoreConnection) -> None:
    account = write.ensure_account(conn, "home", Protocol.POP3)
    folder = write.upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
    hostile = "../../etc/passwd\x00\r\n" + "x" * 1000
    raw = make_message()
    first = write.store_message(conn, folder, raw=raw, uidl=hostile, now=NOW)
    assert write.store_message(conn, folder, raw=raw, uidl=hostile, now=NOW) == first
    found = read.row(conn, first)
    assert found is not None and found.uidl == hostile and found.uid is None
    # Beside the UIDL, the key of the exact bytes (checked before a DELE).
    content = ingest.pop3_content_key(raw)
    assert read.known_uidls(conn, account) == {hostile: NOW.timestamp(), content: NOW.timestamp()}
    # Deleting the local copy keeps the keys: the message is never downloaded again.
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM messages WHERE id = ?", (first,))
    conn.execute("COMMIT")
    assert read.known_uidls(conn, account) == {hostile: NOW.timestamp(), content: NOW.timestamp()}
    assert write.forget_uidls(conn, account, [hostile, content]) == 2
    assert read.known_uidls(conn, account) == {}


def test_messages_without_a_key_are_always_new(conn: db.StoreConnection) -> None:
    account = write.ensure_account(conn, "local", None)
    folder = write.upsert_folder(conn, account, "Drafts", role=FolderRole.DRAFTS)
    raw = make_message()
    assert write.store_message(conn, folder, raw=raw) != write.store_message(conn, folder, raw=raw)


def test_bad_arguments_are_refused(conn: db.StoreConnection, inbox: int) -> None:
    raw = make_message()
    with pytest.raises(ValueError, match="exactly one"):
        write.store_message(conn, inbox, uid=1)
    with pytest.raises(ValueError, match="exactly one"):
        write.store_message(conn, inbox, raw=raw, header_bytes=raw, uid=1)
    with pytest.raises(ValueError, match="not both"):
        write.store_message(conn, inbox, raw=raw, uid=1, uidl="u")
    with pytest.raises(db.StoreError, match="folder 999"):
        write.store_message(conn, 999, raw=raw, uid=1)


def test_a_batch_is_one_transaction(conn: db.StoreConnection, inbox: int) -> None:
    since = read.revision(conn)
    batch = [
        ingest.IncomingMessage(raw=make_message(message_id=f"b{n}@x", subject=f"n{n}"), uid=n)
        for n in range(1, 6)
    ]
    ids = write.store_messages(conn, inbox, batch)
    assert len(ids) == 5 and len(set(ids)) == 5
    assert read.revision(conn) == since + 1
    assert [r.envelope.subject for r in read.rows(conn, ids)] == [f"n{n}" for n in range(1, 6)]


def test_a_failing_batch_stores_nothing(conn: db.StoreConnection, inbox: int) -> None:
    since = read.revision(conn)
    batch = [
        ingest.IncomingMessage(raw=make_message(message_id="ok@x"), uid=1),
        ingest.IncomingMessage(raw=make_message(message_id="bad@x"), uid=2**70),  # no INTEGER
    ]
    with pytest.raises(OverflowError):
        write.store_messages(conn, inbox, batch)
    assert read.message_ids(conn, inbox) == []
    assert read.revision(conn) == since
    assert search.search(conn, "hello") == []


def test_flags_are_canonical(conn: db.StoreConnection, inbox: int) -> None:
    flags = ["\\seen", "\\RECENT", "\\flagged", "$Label1", "has space", "", "\\Seen"]
    message_id = write.store_message(conn, inbox, raw=make_message(), uid=1, flags=flags)
    found = read.row(conn, message_id)
    assert found is not None
    assert found.flags == {"\\Seen", "\\Flagged", "$Label1"}


def test_date_falls_back_to_internaldate_then_first_seen(
    conn: db.StoreConnection, inbox: int
) -> None:
    internal = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    with_internal = write.store_message(
        conn, inbox, raw=make_message(date=None), uid=1, internaldate=internal, now=NOW
    )
    bare = write.store_message(conn, inbox, raw=make_message(date="not a date"), uid=2, now=NOW)
    rows = {r.id: r for r in read.rows(conn, [with_internal, bare])}
    assert rows[with_internal].envelope.date is None
    assert rows[with_internal].sort_date == internal
    assert rows[with_internal].internaldate == internal
    assert rows[bare].sort_date == NOW


def test_reply_joins_the_thread_of_its_parent(conn: db.StoreConnection, inbox: int) -> None:
    parent = write.store_message(conn, inbox, raw=make_message(message_id="p@x"), uid=1)
    reply = write.store_message(
        conn, inbox, raw=make_message(message_id="r@x", in_reply_to="p@x"), uid=2
    )
    unrelated = write.store_message(conn, inbox, raw=make_message(message_id="u@x"), uid=3)
    assert thread_of(conn, reply) == thread_of(conn, parent) == parent
    assert thread_of(conn, unrelated) == unrelated


def test_parent_arriving_late_adopts_its_orphans(conn: db.StoreConnection, inbox: int) -> None:
    child = write.store_message(
        conn, inbox, raw=make_message(message_id="c@x", references=["root@x", "p@x"]), uid=1
    )
    other_child = write.store_message(
        conn, inbox, raw=make_message(message_id="c2@x", in_reply_to="p@x"), uid=2
    )
    # Both point at p@x, which nobody has yet: they are one conversation already.
    assert thread_of(conn, child) == thread_of(conn, other_child)
    parent = write.store_message(conn, inbox, raw=make_message(message_id="p@x"), uid=3)
    assert thread_of(conn, parent) == thread_of(conn, child)


def test_a_message_joining_two_threads_merges_them(conn: db.StoreConnection, inbox: int) -> None:
    a = write.store_message(conn, inbox, raw=make_message(message_id="a@x"), uid=1)
    a_reply = write.store_message(
        conn, inbox, raw=make_message(message_id="a2@x", in_reply_to="a@x"), uid=2
    )
    c = write.store_message(conn, inbox, raw=make_message(message_id="c@x"), uid=3)
    assert thread_of(conn, a) != thread_of(conn, c)
    since = read.revision(conn)
    bridge = write.store_message(
        conn, inbox, raw=make_message(message_id="b@x", references=["a@x", "c@x"]), uid=4
    )
    assert {thread_of(conn, i) for i in (a, a_reply, c, bridge)} == {a}
    assert c in read.changes_since(conn, since).messages  # regrouped rows are reported
    assert conversations.thread_members(conn, a, [inbox]) == sorted([a, a_reply, c, bridge])


def test_threads_stay_within_an_account(conn: db.StoreConnection, inbox: int) -> None:
    other_account = write.ensure_account(conn, "home", Protocol.IMAP)
    other_inbox = write.upsert_folder(conn, other_account, "INBOX")
    parent = write.store_message(conn, inbox, raw=make_message(message_id="p@x"), uid=1)
    reply = write.store_message(
        conn, other_inbox, raw=make_message(message_id="r@x", in_reply_to="p@x"), uid=1
    )
    assert thread_of(conn, reply) != thread_of(conn, parent)


def test_the_same_message_in_two_folders_is_one_thread(
    conn: db.StoreConnection, inbox: int, imap_account: int
) -> None:
    sent = write.upsert_folder(conn, imap_account, "Sent", role=FolderRole.SENT)
    here = write.store_message(conn, inbox, raw=make_message(message_id="d@x"), uid=1)
    there = write.store_message(conn, sent, raw=make_message(message_id="d@x"), uid=1)
    assert thread_of(conn, here) == thread_of(conn, there)
    assert read.ids_by_message_id(conn, imap_account, "d@x") == [here, there]


def test_hostile_references_are_capped(conn: db.StoreConnection, inbox: int) -> None:
    refs = [f"r{n}@x" for n in range(5000)]
    message_id = write.store_message(
        conn, inbox, raw=make_message(message_id="h@x", references=refs), uid=1
    )
    stored = conn.execute(
        "SELECT count(*) FROM message_refs WHERE message_id = ?", (message_id,)
    ).fetchone()[0]
    assert stored == ingest.MAX_REFS
    # The newest references are the ones kept: a reply to the last one joins.
    reply = write.store_message(
        conn, inbox, raw=make_message(message_id="h2@x", in_reply_to="r4999@x"), uid=2
    )
    assert thread_of(conn, reply) == thread_of(conn, message_id)


def test_sort_keys(conn: db.StoreConnection, inbox: int) -> None:
    message_id = write.store_message(
        conn,
        inbox,
        raw=make_message(subject="RE: Fwd: AW: Quarterly Report", sender="ZED <z@example.org>"),
        uid=1,
    )
    subject_sort, from_sort = conn.execute(
        "SELECT subject_sort, from_sort FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    assert subject_sort == "quarterly report"
    assert from_sort == "zed"


def test_a_body_fills_in_an_unknown_size(conn: db.StoreConnection, inbox: int) -> None:
    raw = make_message()
    message_id = write.store_message(conn, inbox, header_bytes=header_section(raw), uid=1)
    before = read.row(conn, message_id)
    assert before is not None and before.envelope.size == 0
    write.store_body(conn, message_id, raw)
    after = read.row(conn, message_id)
    assert after is not None and after.envelope.size == len(raw)


def test_imap_flags_as_bytes(conn: db.StoreConnection, inbox: int) -> None:
    message_id = write.store_message(conn, inbox, raw=make_message(), uid=1, flags=[b"\\Seen"])
    assert read.uid_flags(conn, inbox) == {1: {SEEN}}
    assert write.set_flags(conn, inbox, {1: [b"\\Flagged"]}) == 1
    found = read.row(conn, message_id)
    assert found is not None and found.flags == {"\\Flagged"}
