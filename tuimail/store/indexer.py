"""Parse stored message bodies for the full-text index, in worker processes when it pays.

Parsing a body (MIME structure, charsets, HTML to text) costs far more CPU than fetching and
storing it, so the engines and the importer store bodies unparsed (ingest's `defer_index`) and
`complete_index` parses them behind: each batch of store/reindex.py is spread over worker
processes (`BodyIndexer`) when many bodies wait. Results are exactly `ingest.index_body`'s. Few
bodies, or one CPU, are parsed inline.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from tuimail.store import index_entries, reindex
from tuimail.store.ingest import BodyIndex, index_body

log = logging.getLogger(__name__)

# Below this many bodies the worker's start-up (a fresh interpreter) costs more than it saves.
WORKER_THRESHOLD = 200
# Parsing is CPU-bound: one worker per CPU, at most this many (the servers need CPU too).
MAX_WORKERS = 2


# What starting a worker process may raise: no process or pipe left (OSError), a pool shut
# down or broken, or a resource tracker that could not start (ValueError; see
# `start_process_helpers`).
_START_ERRORS = (BrokenProcessPool, RuntimeError, OSError, ValueError)


def _exit_with_parent() -> None:
    """In a worker: end this process as soon as the one that started it is gone.

    A sync that is killed (or crashes with os._exit) cannot shut its pool down; its workers
    would wait for work forever. The parent's sentinel becomes ready when the parent exits.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def start_process_helpers() -> None:
    """Start multiprocessing's resource tracker now, while `sys.stderr` is the process's own.

    Every process pool needs the tracker, which is started on first use and handed
    `sys.stderr.fileno()`. A running Textual app replaces `sys.stderr` with an object whose
    `fileno()` is -1, so a pool first created inside the app fails with "bad value(s) in
    fds_to_keep". The app calls this before it runs; afterwards it costs nothing.
    """
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def index_bodies(raws: Sequence[bytes]) -> list[BodyIndex]:
    """`index_body` of each message, in order."""
    return [index_body(raw) for raw in raws]


class BodyIndexer:
    """Index batches of bodies, in worker processes when `expected` bodies make it worth it.

    `workers` is how many worker processes parse (0: inline).

    `submit` returns a future; `close` (or the context manager) ends the worker. A worker that
    dies is replaced by inline parsing: the results are the same, only slower.
    """

    def __init__(self, expected: int, *, worker: bool | None = None) -> None:
        if worker is None:
            worker = expected >= WORKER_THRESHOLD and (os.cpu_count() or 1) > 1
        self._pool: ProcessPoolExecutor | None = None
        workers = min(MAX_WORKERS, os.cpu_count() or 1)
        if worker:
            # spawn, not fork: the app runs syncs in threads, and a forked child could inherit
            # a lock some other thread holds.
            try:
                self._pool = ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                )
            except _START_ERRORS:
                # The mail must come in at any size: slower, inline, rather than not at all.
                log.warning("no body indexing worker could start; indexing inline", exc_info=True)
        self.workers = workers if self._pool is not None else 0

    @property
    def uses_worker(self) -> bool:
        """Whether batches are parsed in a worker process."""
        return self._pool is not None

    def submit(self, raws: Sequence[bytes]) -> Future[list[BodyIndex]]:
        """Start indexing `raws`; the future's result is `index_bodies(raws)`."""
        if self._pool is not None:
            try:
                return self._pool.submit(index_bodies, list(raws))
            except _START_ERRORS:
                log.warning("the body indexing worker is gone; indexing inline", exc_info=True)
                self._shutdown()
        done: Future[list[BodyIndex]] = Future()
        done.set_result(index_bodies(raws))
        return done

    def result(self, future: Future[list[BodyIndex]], raws: Sequence[bytes]) -> list[BodyIndex]:
        """The future's result; parsed inline when the worker failed."""
        try:
            return future.result()
        except BrokenProcessPool:
            log.warning("the body indexing worker died; indexing inline", exc_info=True)
            self._shutdown()
            return index_bodies(raws)

    def close(self) -> None:
        """End the worker (waiting for nothing that is still queued)."""
        self._shutdown()

    def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BodyIndexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _submit_spread(
    indexer: BodyIndexer, batch: reindex.Batch
) -> list[tuple[Future[list[BodyIndex]], list[bytes]]]:
    """Hand the batch's bodies to the workers, split evenly (one job per worker)."""
    ids = list(batch.raws)
    raws = [batch.raws[message_id] for message_id in ids]
    size = max(1, -(-len(raws) // max(1, indexer.workers)))
    return [
        (indexer.submit(raws[start : start + size]), raws[start : start + size])
        for start in range(0, len(raws), size)
    ]


def complete_index(
    conn: sqlite3.Connection,
    *,
    stop: Callable[[], bool] = lambda: False,
    between: Callable[[], object] = lambda: None,
) -> int:
    """Complete the full-text entries of bodies stored unparsed and bring older entries to the
    current form (store/reindex.py), a committed batch at a time; how many entries. When many
    bodies wait they are parsed in worker processes, one batch parsing while the one before is
    written. `stop` is asked before each batch (what is left is done by the next run);
    `between` runs after each (the app lets the store breathe). After a bulk of entries
    (index_entries.COMPACT_AFTER) the index is merged into one b-tree, in steps alike."""
    done = _complete(conn, stop=stop, between=between)
    if done >= index_entries.COMPACT_AFTER:
        index_entries.compact(conn, stop=stop, between=between)
    return done


def _complete(
    conn: sqlite3.Connection, *, stop: Callable[[], bool], between: Callable[[], object]
) -> int:
    unparsed = conn.execute(
        "SELECT count(*) FROM messages WHERE index_version < 2 AND index_version = ?",
        (reindex.BODY_NOT_INDEXED,),
    ).fetchone()[0]
    done = 0
    with BodyIndexer(int(unparsed)) as indexer:
        if not indexer.uses_worker:
            while not stop() and (count := reindex.reindex_some(conn)):
                done += count
                between()
            return done
        flight: deque[tuple[reindex.Batch, list[tuple[Future[list[BodyIndex]], list[bytes]]]]]
        flight = deque()
        after = 0
        while not stop():
            if len(flight) < 2 and (batch := reindex.take(conn, after=after)) is not None:
                after = batch.last
                flight.append((batch, _submit_spread(indexer, batch)))
                continue
            if not flight:
                break
            batch, jobs = flight.popleft()
            results = [index for job, raws in jobs for index in indexer.result(job, raws)]
            parsed = dict(zip(batch.raws, results, strict=True))
            batch.raws.clear()
            done += reindex.apply(conn, batch, parsed)
            between()
    return done
