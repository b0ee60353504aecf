"""BodyIndexer: the same index results in a worker process as inline, in order; and the index
completed behind the storing (`complete_index`) gives what indexing at once gave."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuimail.store.indexer import BodyIndexer, index_bodies
from tuimail.store.ingest import index_body

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def _raws() -> list[bytes]:
    return [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]


def test_index_body_gives_the_search_text_and_attachment_flag() -> None:
    raw = (CORPUS / "mixed-attachments.eml").read_bytes()
    index = index_body(raw)
    assert index.has_attachments
    assert index.body_text


def test_worker_results_equal_inline_results_in_order() -> None:
    raws = _raws()
    expected = index_bodies(raws)
    with BodyIndexer(len(raws), worker=True) as indexer:
        assert indexer.uses_worker
        assert indexer.workers >= 1
        futures = [indexer.submit(raws[:10]), indexer.submit(raws[10:])]
        got = [
            *indexer.result(futures[0], raws[:10]),
            *indexer.result(futures[1], raws[10:]),
        ]
    assert got == expected


def test_few_bodies_are_indexed_inline() -> None:
    raws = _raws()[:3]
    with BodyIndexer(len(raws)) as indexer:
        assert not indexer.uses_worker
        assert indexer.workers == 0
        assert indexer.result(indexer.submit(raws), raws) == index_bodies(raws)


def test_a_closed_worker_falls_back_to_inline_parsing() -> None:
    raws = _raws()[:4]
    indexer = BodyIndexer(1000, worker=True)
    indexer.close()
    assert not indexer.uses_worker
    assert indexer.result(indexer.submit(raws), raws) == index_bodies(raws)


def test_store_bodies_stores_a_batch_once_in_one_transaction(tmp_path: Path) -> None:
    from tuimail.core.model import Protocol
    from tuimail.store import read, write
    from tuimail.store.db import open_store

    conn = open_store(tmp_path)
    account = write.ensure_account(conn, "a", Protocol.IMAP)
    folder = write.upsert_folder(conn, account, "INBOX")
    raws = _raws()[:5]
    ids = write.store_messages(
        conn,
        folder,
        [write.IncomingMessage(header_bytes=raw, uid=uid) for uid, raw in enumerate(raws, 1)],
    )
    before = read.revision(conn)
    items = [(i, raw, index) for i, raw, index in zip(ids, raws, index_bodies(raws), strict=True)]
    assert write.store_bodies(conn, items) == 5
    assert read.revision(conn) == before + 1
    assert [read.body(conn, i) for i in ids] == raws
    assert write.store_bodies(conn, [(ids[0], raws[0], None)]) == 0  # already local


CRASHING_PARENT = """
import os, sys
from tuimail.store.indexer import BodyIndexer
indexer = BodyIndexer(1000, worker=True)
indexer.result(indexer.submit([b"Subject: x\\r\\n\\r\\nbody\\r\\n"]), [])
print(" ".join(str(pid) for pid in indexer._pool._processes), flush=True)
os._exit(77)  # as a crash point does: no shutdown of the pool
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie not yet reaped by init counts as gone.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    return True


def test_workers_end_when_their_parent_dies_without_shutting_them_down() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_PARENT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 77, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert pids
    deadline = time.monotonic() + 30  # generous: only a bound, so a failure cannot hang
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


def _store(data_dir: Path, raws: list[bytes], *, defer: bool) -> list[int]:
    from tuimail.core.model import Protocol
    from tuimail.store import write
    from tuimail.store.db import open_store

    conn = open_store(data_dir)
    try:
        account = write.ensure_account(conn, "a", Protocol.IMAP)
        folder = write.upsert_folder(conn, account, "INBOX")
        items = [write.IncomingMessage(raw=raw, uid=uid) for uid, raw in enumerate(raws, 1)]
        return write.store_messages(conn, folder, items, defer_index=defer)
    finally:
        conn.close()


def _entries(data_dir: Path) -> list[tuple[object, ...]]:
    """Each message's entry text and attachment flag, in id order."""
    from tuimail.store import index_entries
    from tuimail.store.db import open_store

    conn = open_store(data_dir)
    try:
        rows = conn.execute("SELECT id, has_attachments, index_version FROM messages ORDER BY id")
        return [(flag, version, index_entries.texts(conn, i)) for i, flag, version in rows]
    finally:
        conn.close()


def test_bodies_indexed_behind_get_the_entries_they_would_have_got_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored unparsed, then completed in worker processes, in batches: every entry and
    attachment flag as storing with the parse would have made them."""
    from tuimail.store import indexer, reindex
    from tuimail.store.db import open_store

    monkeypatch.setattr(indexer, "WORKER_THRESHOLD", 1)
    monkeypatch.setattr(reindex, "BATCH_BYTES", 1)  # one body a batch: several in flight
    raws = _raws()
    _store(tmp_path / "at-once", raws, defer=False)
    _store(tmp_path / "behind", raws, defer=True)
    waiting = _entries(tmp_path / "behind")
    assert {version for _, version, _ in waiting} == {reindex.BODY_NOT_INDEXED}
    assert all(texts is not None and texts[2] == "" for _, _, texts in waiting)
    conn = open_store(tmp_path / "behind")
    try:
        batches: list[int] = []
        real = reindex.apply

        def counted(*args: object) -> int:
            done = real(*args)  # type: ignore[arg-type]
            batches.append(done)
            return done

        monkeypatch.setattr(reindex, "apply", counted)
        assert indexer.complete_index(conn) == len(raws)
    finally:
        conn.close()
    assert batches == [1] * len(raws), "one committed batch per body, in order"
    assert _entries(tmp_path / "behind") == _entries(tmp_path / "at-once")


def test_a_stopped_completion_leaves_the_rest_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuimail.store import indexer, reindex
    from tuimail.store.db import open_store

    raws = _raws()
    assert len(raws) > 4
    _store(tmp_path, raws, defer=True)
    real = reindex.reindex_some
    monkeypatch.setattr(reindex, "reindex_some", lambda conn, **given: real(conn, limit=2, **given))
    conn = open_store(tmp_path)
    try:
        assert indexer.complete_index(conn, stop=lambda: True) == 0
        assert reindex.pending(conn) == len(raws)
        asked: list[int] = []

        def after_one_batch() -> bool:
            asked.append(1)
            return len(asked) > 1

        assert indexer.complete_index(conn, stop=after_one_batch) == 2
        assert reindex.pending(conn) == len(raws) - 2
        assert indexer.complete_index(conn) == len(raws) - 2
        assert not reindex.behind(conn)
    finally:
        conn.close()
