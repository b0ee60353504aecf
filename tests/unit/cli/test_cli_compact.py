"""`tuimail compact` on a store made before bodies were kept compressed: every body packed,
the space given back, and an export gives the same bytes before and after."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.old_store import store_as_of
from tests.unit.store.test_body_codec import varied_messages
from tuimail.cli.main import main
from tuimail.store import body_codec, db


def test_compact_packs_an_old_store_and_exports_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(body_codec, "TRAIN_AFTER", 100)
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text("")
    messages = varied_messages(300, seed=3)
    store_as_of(data, 10, messages)  # the release before compression
    common = ["--config", str(config), "--data-dir", str(data)]
    assert main(["export", *common, "work/INBOX", "--mbox", str(tmp_path / "before.mbox")]) == 0
    capsys.readouterr()

    assert main(["compact", *common]) == 0
    said = capsys.readouterr().out
    assert "300 bodies packed" in said
    # The index's texts were packed by the migration before any dictionary existed.
    assert "300 search index texts packed" in said
    sizes = [float(word) for word in said.split() if word.replace(".", "").isdigit()]
    before, after = sizes[-2], sizes[-1]  # "the store went from X MB to Y MB"
    assert after < before, said  # the space is given back (the index keeps its size)

    assert main(["export", *common, "work/INBOX", "--mbox", str(tmp_path / "after.mbox")]) == 0
    assert (tmp_path / "after.mbox").read_bytes() == (tmp_path / "before.mbox").read_bytes()
    conn = db.open_store(data)
    try:
        # The search index in one b-tree (the old store's had one per batch stored).
        segments = "SELECT count(DISTINCT segid) FROM messages_fts_idx"
        assert conn.execute(segments).fetchone() == (1,)
        forms = {row for row in conn.execute("SELECT DISTINCT codec FROM bodies")}
        assert forms == {(body_codec.ZSTD_DICT,)}
        forms = {row for row in conn.execute("SELECT DISTINCT codec FROM index_texts")}
        assert forms == {(body_codec.ZSTD_DICT,)}
        (kept,) = conn.execute("SELECT sum(length(raw)) FROM bodies").fetchone()
        assert kept < sum(map(len, messages)) / 3
        # Every entry can still be taken out exactly (its repacked text is the one indexed).
        conn.execute("DELETE FROM messages")
        assert conn.execute("SELECT count(*) FROM index_texts").fetchone() == (0,)
        assert (
            conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'a*'").fetchall()
            == []
        )
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
