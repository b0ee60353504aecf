"""Search folds diacritics and letters such as ł, ø, ß the way users type them (issue 19): in
the index and in every query; a store made before is brought up to date in the background and
finds meanwhile what it found before."""

from __future__ import annotations

from pathlib import Path

from tests.support.mailfactory import make_message
from tests.support.old_store import store_as_of
from tuimail.core.model import FolderRole, Protocol
from tuimail.store import db, read, reindex, schema, search, write


def _store(conn: db.StoreConnection) -> dict[str, int]:
    account = write.ensure_account(conn, "work", Protocol.IMAP)
    inbox = write.upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
    write.update_folder_state(conn, inbox, uidvalidity=7)
    texts = {
        "polish": ("Zażółć gęślą jaźń", "Spotkanie w Łodzi"),
        "german": ("Die Straße", "Grüße aus München"),
        "nordic": ("Øresund", "Vi ses i Ærøskøbing"),
        "plain": ("Nothing special", "plain words only"),
    }
    ids = write.store_messages(
        conn,
        inbox,
        [
            write.IncomingMessage(
                raw=make_message(message_id=f"{key}@x", subject=subject, body=body + "\r\n"),
                uid=n,
            )
            for n, (key, (subject, body)) in enumerate(texts.items(), 1)
        ],
    )
    return dict(zip(texts, ids, strict=True))


def test_typed_without_marks_or_with_them_finds_the_same(conn: db.StoreConnection) -> None:
    ids = _store(conn)
    for query, key in [
        ("zazolc", "polish"),
        ("Zażółć", "polish"),
        ("lodzi", "polish"),
        ("ŁODZI", "polish"),
        ("strasse", "german"),
        ("straße", "german"),
        ("grusse munchen", "german"),
        ("oresund", "nordic"),
        ("aeroskobing", "nordic"),
        ("subject:gesla", "polish"),
        ("body:munch*", "german"),
        ('"gesla jazn"', "polish"),
    ]:
        assert search.search(conn, query) == [ids[key]], query


def test_a_store_made_before_is_brought_up_to_date_and_finds_what_it_did_meanwhile(
    tmp_path: Path,
) -> None:
    raws = [
        make_message(message_id="p@x", subject="Zażółć gęślą jaźń", body="w Łodzi\r\n"),
        make_message(message_id="q@x", subject="plain", body="nothing\r\n"),
    ]
    polish, _plain = store_as_of(tmp_path, 11, raws)  # the release before folding
    conn = db.open_store(tmp_path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        assert reindex.behind(conn)
        # Before its entry is rewritten: found as before (typed with its letters), not yet
        # without them.
        assert search.search(conn, "zażółć") == [polish]
        assert search.search(conn, "łodzi") == [polish]
        assert search.search(conn, "zazolc") == []
        assert reindex.reindex_some(conn, limit=1) == 1
        assert reindex.reindex_all(conn) == 1
        assert not reindex.behind(conn)
        for query in ("zazolc", "zażółć", "lodzi", "łodzi"):
            assert search.search(conn, query) == [polish], query
        assert read.body(conn, polish) == raws[0], "the message itself is untouched"
        assert reindex.reindex_some(conn) == 0
    finally:
        conn.close()
