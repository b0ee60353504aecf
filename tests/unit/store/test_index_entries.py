"""The full-text index keeps no copy of the text (issue 19): `messages_fts` is contentless and
the text each entry was made from is kept packed in `index_texts`, so that an entry can be taken
out exactly. Each test looks into the index itself (not through the join search() makes with
`messages`): a word of a message that is gone must not be in the index at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.mailfactory import header_section, make_message
from tests.support.old_store import store_as_of
from tuimail.core.model import FolderRole
from tuimail.store import db, index_entries, ingest, ops, read, reindex, schema, search, write
from tuimail.store.ops import OpKind


def _in_index(conn: db.StoreConnection, word: str) -> list[int]:
    """The rowids whose entry holds `word`, straight from the FTS5 table."""
    return sorted(
        row[0]
        for row in conn.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (word,)
        )
    )


def _check(conn: db.StoreConnection) -> None:
    """FTS5's own check of the index, and one text kept per entry of a stored message."""
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
    kept = {row[0] for row in conn.execute("SELECT message_id FROM index_texts")}
    assert kept == {row[0] for row in conn.execute("SELECT id FROM messages")}


def _message(n: int, word: str, subject: str = "hello") -> bytes:
    return make_message(message_id=f"m{n}@x", subject=subject, body=f"about {word} today\r\n")


def test_the_index_keeps_no_copy_of_the_text(conn: db.StoreConnection, inbox: int) -> None:
    (message_id,) = write.store_messages(
        conn, inbox, [write.IncomingMessage(raw=_message(1, "otter"), uid=1)]
    )
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "messages_fts_content" not in tables
    assert _in_index(conn, "otter") == [message_id]
    subject, addresses, body = index_entries.texts(conn, message_id) or ("", "", "")
    assert (subject, "otter" in body) == ("hello", True)
    assert "sender" in addresses.lower() or "@" in addresses
    packed, codec = conn.execute("SELECT packed, codec FROM index_texts").fetchone()
    assert codec != 0 and b"otter" not in packed, "the text is kept packed"
    _check(conn)


def test_a_deleted_message_leaves_nothing_in_the_index(
    conn: db.StoreConnection, inbox: int
) -> None:
    ids = write.store_messages(
        conn,
        inbox,
        [
            write.IncomingMessage(raw=_message(n, word), uid=n)
            for n, word in enumerate(["otter", "badger", "heron"], 1)
        ],
    )
    write.expunge_uids(conn, inbox, [1])
    assert _in_index(conn, "otter") == []
    assert _in_index(conn, "hello") == ids[1:], "the others' entries are whole"
    _check(conn)
    # A folder's messages go with it (the delete cascades through the same trigger).
    write.delete_folder(conn, inbox)
    assert _in_index(conn, "hello") == []
    _check(conn)


def test_a_body_that_comes_after_its_headers_replaces_the_entry(
    conn: db.StoreConnection, inbox: int
) -> None:
    raw = _message(1, "walrus", subject="tidings")
    message_id = write.store_message(conn, inbox, header_bytes=header_section(raw), uid=1)
    assert _in_index(conn, "tidings") == [message_id]
    assert _in_index(conn, "walrus") == []
    ingest.store_body(conn, message_id, raw)
    assert _in_index(conn, "walrus") == [message_id]
    assert _in_index(conn, "tidings") == [message_id]
    write.expunge_uids(conn, inbox, [1])
    assert _in_index(conn, "walrus") == [] and _in_index(conn, "tidings") == []
    _check(conn)


def test_a_copy_has_its_own_entry(conn: db.StoreConnection, inbox: int, imap_account: int) -> None:
    archive = write.upsert_folder(conn, imap_account, "Archive", role=FolderRole.ARCHIVE)
    write.update_folder_state(conn, archive, uidvalidity=9)
    (original,) = write.store_messages(
        conn, inbox, [write.IncomingMessage(raw=_message(1, "lynx"), uid=1)]
    )
    ops.enqueue(conn, OpKind.COPY, [original], to_folder_id=archive)
    both = _in_index(conn, "lynx")
    assert len(both) == 2 and original in both
    write.expunge_uids(conn, inbox, [1])
    assert _in_index(conn, "lynx") == [both[1]], "the copy is still found"
    _check(conn)


def test_a_store_of_schema_12_keeps_its_entries_without_the_copy(tmp_path: Path) -> None:
    raws = [_message(1, "otter"), _message(2, "badger")]
    otter, badger = store_as_of(tmp_path, 12, raws)
    conn = db.open_store(tmp_path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "messages_fts_content" not in tables
        assert search.search(conn, "otter") == [otter]
        assert search.search(conn, "badger") == [badger]
        _check(conn)
        conn.execute("DELETE FROM messages WHERE id = ?", (otter,))
        assert _in_index(conn, "otter") == []
        assert _in_index(conn, "badger") == [badger]
        _check(conn)
        assert read.body(conn, badger) == raws[1]
    finally:
        conn.close()


def test_a_store_of_schema_11_is_refolded_from_the_kept_text(tmp_path: Path) -> None:
    raws = [make_message(message_id="p@x", subject="Zażółć", body="w Łodzi\r\n")]
    (polish,) = store_as_of(tmp_path, 11, raws)
    conn = db.open_store(tmp_path)
    try:
        assert search.search(conn, "zazolc") == []
        assert reindex.reindex_all(conn) == 1
        assert search.search(conn, "zazolc") == [polish]
        assert _in_index(conn, "łodzi") == [], "the unfolded entry was taken out"
        conn.execute("DELETE FROM messages WHERE id = ?", (polish,))
        assert _in_index(conn, "zazolc") == []
        _check(conn)
    finally:
        conn.close()


def test_a_connection_without_the_function_cannot_delete_a_message(
    conn: db.StoreConnection, inbox: int, data_dir: Path
) -> None:
    """The trigger needs the store's SQL function: a plain connection is refused, loudly, rather
    than leaving an entry behind."""
    import sqlite3

    write.store_messages(conn, inbox, [write.IncomingMessage(raw=_message(1, "otter"), uid=1)])
    plain = sqlite3.connect(db.store_path(data_dir))
    try:
        try:
            plain.execute("DELETE FROM messages")
        except sqlite3.OperationalError as exc:
            assert index_entries.SQL_FUNCTION in str(exc)
        else:
            raise AssertionError("the delete went through")
    finally:
        plain.close()
    assert _in_index(conn, "otter") != []


def test_a_body_indexed_behind_an_entry_of_the_older_form_folds_the_whole_entry(
    tmp_path: Path,
) -> None:
    """A store made before folding, whose message gets its body stored unparsed (what
    `_insert_body` does with defer_index: form 0): completing it folds the subject too."""
    raws = [make_message(message_id="p@x", subject="Zażółć", body="w Łodzi\r\n")]
    (polish,) = store_as_of(tmp_path, 11, raws)
    conn = db.open_store(tmp_path)
    try:
        conn.execute("UPDATE messages SET index_version = 0 WHERE id = ?", (polish,))
        assert reindex.reindex_all(conn) == 1
        assert search.search(conn, "zazolc") == [polish]
        assert search.search(conn, "lodzi") == [polish]
        assert _in_index(conn, "zażółć") == [], "the unfolded subject was taken out"
        _check(conn)
    finally:
        conn.close()


def _segments(conn: db.StoreConnection) -> int:
    """The index's b-trees (FTS5 segments)."""
    return conn.execute("SELECT count(DISTINCT segid) FROM messages_fts_idx").fetchone()[0]


def _no_merging(conn: db.StoreConnection) -> None:
    """FTS5's own merging off (incremental, and when a level holds too many)."""
    for option, value in (("automerge", 0), ("crisismerge", 1000)):
        conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES (?, ?)", (option, value))


def _many_segments(conn: db.StoreConnection, inbox: int, count: int = 40) -> list[str]:
    """`count` messages stored one transaction each with FTS5's own merging off: a segment
    each, as a bulk of batches leaves many. The words searched after."""
    _no_merging(conn)
    words = [f"word{n % 7}" for n in range(count)]
    for n, word in enumerate(words):
        # Many words of its own: a segment of several pages, merged over several steps.
        own = " ".join(f"w{n}x{i}" for i in range(400))
        write.store_message(conn, inbox, raw=_message(n, f"{word} {own}"), uid=n + 1)
    return sorted(set(words))


def test_compacting_merges_the_index_into_one_b_tree(
    conn: db.StoreConnection, inbox: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    words = _many_segments(conn, inbox)
    assert _segments(conn) > 30
    before = {word: _in_index(conn, word) for word in words}
    revision = read.revision(conn)
    monkeypatch.setattr(index_entries, "MERGE_STEP_PAGES", 1)  # many steps
    steps: list[int] = []
    assert index_entries.compact(conn, between=lambda: steps.append(_segments(conn)))
    assert len(steps) > 1 and _segments(conn) == 1
    assert {word: _in_index(conn, word) for word in words} == before
    assert read.revision(conn) == revision  # nothing anyone reads changed
    _check(conn)
    # Once merged, there is nothing to do.
    assert index_entries.compact(conn, between=lambda: steps.append(-1))
    assert -1 not in steps


def test_a_stopped_compaction_leaves_a_working_index(
    conn: db.StoreConnection, inbox: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    words = _many_segments(conn, inbox)
    before = {word: _in_index(conn, word) for word in words}
    monkeypatch.setattr(index_entries, "MERGE_STEP_PAGES", 1)
    asked: list[int] = []
    assert not index_entries.compact(
        conn, stop=lambda: len(asked) > 2, between=lambda: asked.append(1)
    )
    assert len(asked) == 3 and _segments(conn) > 1
    assert {word: _in_index(conn, word) for word in words} == before
    _check(conn)
    write.store_message(conn, inbox, raw=_message(99, "latecomer"), uid=99)
    assert index_entries.compact(conn)
    assert _in_index(conn, "latecomer") and _segments(conn) == 1


def test_completing_a_bulk_of_entries_compacts_the_index(
    conn: db.StoreConnection, inbox: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After indexing at least COMPACT_AFTER entries, not after fewer."""
    from tuimail.store import indexer

    _no_merging(conn)
    monkeypatch.setattr(reindex, "BATCH", 3)  # a committed batch (and a segment) per 3

    def stored_unindexed(numbers: range) -> None:
        for n in numbers:
            item = write.IncomingMessage(raw=_message(n, "bulk"), uid=n + 1)
            write.store_messages(conn, inbox, [item], defer_index=True)

    stored_unindexed(range(12))
    monkeypatch.setattr(index_entries, "COMPACT_AFTER", 13)
    assert indexer.complete_index(conn) == 12
    assert _segments(conn) > 1  # fewer than COMPACT_AFTER: left to FTS5
    stored_unindexed(range(12, 24))
    monkeypatch.setattr(index_entries, "COMPACT_AFTER", 12)
    assert indexer.complete_index(conn) == 12
    assert _segments(conn) == 1
    assert len(_in_index(conn, "bulk")) == 24
