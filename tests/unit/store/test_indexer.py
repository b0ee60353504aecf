"""BodyIndexer: the same index results in a worker process as inline, in order."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

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
        assert indexer.ahead > 1
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
        assert indexer.ahead == 1
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
