"""Bodies kept compressed (store/body_codec.py): byte-exact on every read, a dictionary trained
on the store's own mail once it holds enough, a store of schema 10 read as it is and packed by
`compact`, and nothing lost when a body cannot be read back."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
import zstandard

from tests.support.mailfactory import make_message
from tests.support.old_store import store_as_of
from tuimail.core.model import FolderRole, Protocol
from tuimail.store import body_codec, db, ops, read, schema, write
from tuimail.store.db import StoreError


def varied_messages(count: int, seed: int = 7) -> list[bytes]:
    """Messages that look like a mailbox: a few senders, signatures, quoted replies, and some
    bytes that are not ASCII or not text at all."""
    rng = random.Random(seed)
    people = [f"Person {n} <p{n}@example.org>" for n in range(12)]
    words = [
        "meeting",
        "report",
        "budget",
        "release",
        "plan",
        "review",
        "draft",
        "notes",
        "team",
        "thanks",
    ]
    messages = []
    for n in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(20, 200)))
        body = f"Hello,\r\n\r\n{text}\r\n\r\n> {text[:80]}\r\n\r\n-- \r\nPerson {n % 12}\r\n"
        raw = make_message(
            message_id=f"m{n}@example.org",
            subject=f"Re: {rng.choice(words)} {n}",
            sender=rng.choice(people),
            body=body,
        )
        if n % 50 == 0:
            raw += bytes(rng.randrange(256) for _ in range(300))  # not text: kept exactly too
        messages.append(raw)
    return messages


def stored_form(conn: sqlite3.Connection, message_id: int) -> tuple[int, int | None, int]:
    blob, codec, dict_id = conn.execute(
        "SELECT raw, codec, dict_id FROM bodies WHERE message_id = ?", (message_id,)
    ).fetchone()
    return codec, dict_id, len(blob)


@pytest.fixture
def inbox(conn: db.StoreConnection) -> int:
    account = write.ensure_account(conn, "work", Protocol.IMAP)
    folder = write.upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
    write.update_folder_state(conn, folder, uidvalidity=7)
    return folder


def test_a_body_is_kept_compressed_and_read_back_byte_for_byte(
    conn: db.StoreConnection, inbox: int
) -> None:
    raw = max(varied_messages(10)[1:], key=len)  # text only, a mail of some length
    (message_id,) = write.store_messages(conn, inbox, [write.IncomingMessage(raw=raw, uid=1)])
    codec, dict_id, size = stored_form(conn, message_id)
    assert (codec, dict_id) == (body_codec.ZSTD, None), "no dictionary yet: too little mail"
    assert size < len(raw) / 2
    assert read.body(conn, message_id) == raw
    # A copy done here (before the server's) keeps the packed form and reads the same.
    account = read.account_id(conn, "work")
    assert account is not None
    archive = write.upsert_folder(conn, account, "Archive")
    ops.enqueue(conn, ops.OpKind.COPY, [message_id], to_folder_id=archive)
    (copy,) = read.message_ids(conn, archive)
    assert copy != message_id and stored_form(conn, copy) == stored_form(conn, message_id)
    assert read.body(conn, copy) == raw


def test_a_dictionary_is_trained_once_enough_mail_is_stored(
    conn: db.StoreConnection, inbox: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(body_codec, "TRAIN_AFTER", 300)
    messages = varied_messages(400)
    first = write.store_messages(
        conn, inbox, [write.IncomingMessage(raw=m, uid=n) for n, m in enumerate(messages[:299], 1)]
    )
    assert body_codec.train_if_due(conn) is None, "not enough mail yet"
    rest = write.store_messages(
        conn,
        inbox,
        [write.IncomingMessage(raw=m, uid=n) for n, m in enumerate(messages[299:350], 300)],
    )
    dict_id = body_codec.train_if_due(conn)
    assert dict_id is not None
    assert body_codec.train_if_due(conn) is None, "one dictionary per store"
    later = write.store_messages(
        conn,
        inbox,
        [write.IncomingMessage(raw=m, uid=n) for n, m in enumerate(messages[350:], 351)],
    )
    assert {stored_form(conn, m)[:2] for m in later} == {(body_codec.ZSTD_DICT, dict_id)}
    assert {stored_form(conn, m)[0] for m in first + rest} == {body_codec.ZSTD}
    # Every body reads back exactly, whichever way it is kept, also from a new connection.
    again = db.connect(conn.path)  # type: ignore[arg-type]
    try:
        for message_id, raw in zip(first + rest + later, messages, strict=True):
            assert read.body(again, message_id) == raw
    finally:
        again.close()
    # The dictionary pays: the later (dictionary) bodies are smaller than without one.
    with_dict = sum(stored_form(conn, m)[2] for m in later)
    packer = zstandard.ZstdCompressor(level=body_codec.LEVEL)
    plain = sum(len(packer.compress(raw)) for raw in messages[350:])
    assert with_dict < plain


def test_a_store_of_schema_10_is_read_as_it_is_and_compact_packs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store made by the release before bodies were compressed: its raw bodies read back as
    they are; `compact` packs them all (with the dictionary it trains), byte for byte."""
    monkeypatch.setattr(body_codec, "TRAIN_AFTER", 100)
    messages = varied_messages(150, seed=11)
    path = tmp_path / db.DB_FILENAME
    ids = store_as_of(tmp_path, 10, messages)  # the release before compression
    conn = db.connect(path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        assert {stored_form(conn, n)[0] for n in ids} == {body_codec.RAW}
        assert read.body(conn, ids[6]) == messages[6]
        # Stopped part way (a Ctrl-C after some batches): what is packed stays packed, the
        # rest as it was, and every body reads the same.
        assert body_codec.compact(conn, batch=40, limit=60) == 60
        assert sorted(stored_form(conn, n)[0] for n in ids).count(body_codec.RAW) == 90
        for message_id, raw in zip(ids, messages, strict=True):
            assert read.body(conn, message_id) == raw
        assert body_codec.compact(conn, batch=40) == 90
        forms = {stored_form(conn, n)[:2] for n in ids}
        assert len(forms) == 1 and next(iter(forms))[0] == body_codec.ZSTD_DICT, forms
        for message_id, raw in zip(ids, messages, strict=True):
            assert read.body(conn, message_id) == raw
        assert body_codec.compact(conn) == 0, "nothing left to pack"
    finally:
        conn.close()


def test_a_body_that_cannot_be_read_back_is_a_clear_error(
    conn: db.StoreConnection, inbox: int
) -> None:
    raw = varied_messages(2)[1]
    (message_id,) = write.store_messages(conn, inbox, [write.IncomingMessage(raw=raw, uid=1)])
    with conn:
        conn.execute("UPDATE bodies SET raw = ? WHERE message_id = ?", (b"garbage", message_id))
    with pytest.raises(StoreError, match="cannot be read back"):
        read.body(conn, message_id)
    with conn:
        conn.execute("UPDATE bodies SET codec = 9 WHERE message_id = ?", (message_id,))
    with pytest.raises(StoreError, match="unknown form"):
        read.body(conn, message_id)
