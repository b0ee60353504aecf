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


def _numbered(count: int) -> list[bytes]:
    return [
        f"Subject: number {n}\r\nMessage-ID: <n{n}@x>\r\n\r\nbody {n}\r\n".encode()
        for n in range(count)
    ]


def test_parsed_ahead_keeps_the_order_and_passes_items_without_bytes() -> None:
    """Parsed in the workers (more than the threshold), in the order given; an item without
    bytes (a problem the source reported) keeps its place and has no parse."""
    from tuimail.store.indexer import WORKER_THRESHOLD, parsed_ahead

    raws = _numbered(WORKER_THRESHOLD + 150)
    items: list[bytes | None] = list(raws)
    items.insert(5, None)
    items.insert(WORKER_THRESHOLD + 7, None)
    out = list(parsed_ahead(items, lambda item: item))
    assert [item for item, _ in out] == items
    for item, parsed in out:
        if item is None:
            assert parsed is None
        else:
            assert (
                parsed is not None
                and parsed.envelope.subject == item.split(b"\r\n")[0][9:].decode()
            )


def test_parsed_ahead_gives_what_was_read_before_the_source_failed() -> None:
    """A file cut short: every message read before it still comes, then the error."""
    from tuimail.store.indexer import WORKER_THRESHOLD, parsed_ahead

    raws = _numbered(WORKER_THRESHOLD + 90)

    def source():  # type: ignore[no-untyped-def]
        yield from raws
        raise OSError("the file was cut short")

    got: list[bytes] = []
    try:
        for item, parsed in parsed_ahead(source(), lambda item: item):
            assert parsed is not None
            got.append(item)
    except OSError as exc:
        assert "cut short" in str(exc)
    else:
        raise AssertionError("the source's error was swallowed")
    assert got == raws


def test_parsed_ahead_of_a_small_source_parses_inline_and_a_stop_ends_the_workers() -> None:
    from tuimail.store.indexer import WORKER_THRESHOLD, parsed_ahead

    small = _numbered(3)
    assert [parsed.envelope.subject for _, parsed in parsed_ahead(small, lambda m: m)] == [
        "number 0",
        "number 1",
        "number 2",
    ]
    # The caller stops part way (an error of its own): the generator closes, and with it
    # the workers, without waiting for the rest of the source.
    ahead = parsed_ahead(iter(_numbered(WORKER_THRESHOLD * 3)), lambda m: m)
    next(ahead)
    ahead.close()
