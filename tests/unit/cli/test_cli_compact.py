"""`tuimail compact` on a store made before bodies were kept compressed: every body packed,
the space given back, and an export gives the same bytes before and after."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.unit.store.test_body_codec import varied_messages
from tuimail.cli.main import main
from tuimail.core.model import FolderRole, Protocol
from tuimail.store import body_codec, db, schema, write


def old_store(data: Path, messages: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """A store as the release before compression left it (schema 10, bodies as they came)."""

    def insert_as_before(conn: sqlite3.Connection, message_id: int, raw: bytes) -> None:
        conn.execute("INSERT INTO bodies (message_id, raw) VALUES (?, ?)", (message_id, raw))

    with monkeypatch.context() as older:
        older.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:10])
        older.setattr(schema, "SCHEMA_VERSION", 10)
        older.setattr(body_codec, "insert", insert_as_before)
        conn = db.open_store(data)
        try:
            account = write.ensure_account(conn, "work", Protocol.IMAP)
            inbox = write.upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
            write.update_folder_state(conn, inbox, uidvalidity=7)
            write.store_messages(
                conn,
                inbox,
                [write.IncomingMessage(raw=m, uid=n) for n, m in enumerate(messages, 1)],
            )
        finally:
            conn.close()


def test_compact_packs_an_old_store_and_exports_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(body_codec, "TRAIN_AFTER", 100)
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text("")
    messages = varied_messages(300, seed=3)
    old_store(data, messages, monkeypatch)
    common = ["--config", str(config), "--data-dir", str(data)]
    assert main(["export", *common, "work/INBOX", "--mbox", str(tmp_path / "before.mbox")]) == 0
    capsys.readouterr()

    assert main(["compact", *common]) == 0
    said = capsys.readouterr().out
    assert "300 bodies packed" in said
    sizes = [float(word) for word in said.split() if word.replace(".", "").isdigit()]
    before, after = sizes[-2], sizes[-1]  # "the store went from X MB to Y MB"
    assert after < before, said  # the space is given back (the index keeps its size)

    assert main(["export", *common, "work/INBOX", "--mbox", str(tmp_path / "after.mbox")]) == 0
    assert (tmp_path / "after.mbox").read_bytes() == (tmp_path / "before.mbox").read_bytes()
    conn = db.open_store(data)
    try:
        forms = {row for row in conn.execute("SELECT DISTINCT codec FROM bodies")}
        assert forms == {(body_codec.ZSTD_DICT,)}
        (kept,) = conn.execute("SELECT sum(length(raw)) FROM bodies").fetchone()
        assert kept < sum(map(len, messages)) / 3
    finally:
        conn.close()
    assert main(["compact", *common]) == 0, "again: nothing to do, no harm"
    assert "0 bodies packed" in capsys.readouterr().out


def test_compact_without_a_store_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    assert main(["compact", "--config", str(config), "--data-dir", str(tmp_path / "none")]) == 1
    assert "no local store" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
