"""Parse message bodies for the index ahead of storing them, in a worker process when it pays.

Parsing a body (MIME structure, charsets, HTML to text) costs more CPU than fetching and storing
it. When many bodies are downloaded at once, `BodyIndexer` hands the parsing of each batch to
worker processes, so the parse of some batches overlaps the download and the commit of the
others. Results are exactly `ingest.index_body`'s; a batch is stored only when its results are
in, so what is committed and when does not change. Few bodies, or one CPU, are parsed inline.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from tuimail.store.ingest import BodyIndex, ParsedRaw, index_body, parse_raw

log = logging.getLogger(__name__)

T = TypeVar("T")

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


def parse_raws(raws: Sequence[bytes]) -> list[ParsedRaw]:
    """`ingest.parse_raw` of each message, in order (for messages stored whole)."""
    return [parse_raw(raw) for raw in raws]


class BodyIndexer:
    """Index batches of bodies, in worker processes when `expected` bodies make it worth it.

    `ahead` is how many submitted batches a caller should keep in flight.

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
        # Batches to have in flight: one parsing per worker and one being fetched.
        self.ahead = workers + 1 if self._pool is not None else 1

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

    def submit_whole(self, raws: Sequence[bytes]) -> Future[list[ParsedRaw]]:
        """Start `parse_raws(raws)` (messages to be stored whole, with their envelope)."""
        if self._pool is not None:
            try:
                return self._pool.submit(parse_raws, list(raws))
            except _START_ERRORS:
                log.warning("the body indexing worker is gone; parsing inline", exc_info=True)
                self._shutdown()
        done: Future[list[ParsedRaw]] = Future()
        done.set_result(parse_raws(raws))
        return done

    @staticmethod
    def whole_result(future: Future[list[ParsedRaw]], raws: Sequence[bytes]) -> list[ParsedRaw]:
        """The result of `submit_whole`; parsed inline when the worker failed or was shut down
        before it got to this batch."""
        try:
            return future.result()
        except (BrokenProcessPool, CancelledError):
            log.warning("a parse in the worker did not finish; parsing inline", exc_info=True)
            return parse_raws(raws)

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


PARSE_CHUNK = 64  # messages per job of `parsed_ahead`, at most
# Bytes per job, at most, and what `parsed_ahead` reads before it starts workers whatever the
# count: what is in flight stays a small, fixed amount of memory however big the source.
PARSE_CHUNK_BYTES = 256 * 1024


def parsed_ahead(
    items: Iterable[T], raw_of: Callable[[T], bytes | None]
) -> Iterator[tuple[T, ParsedRaw | None]]:
    """Each of `items` with `parse_raw` of its bytes (`raw_of`; None for an item without), in
    the order given, parsed in worker processes ahead of the caller once `WORKER_THRESHOLD`
    items or `PARSE_CHUNK_BYTES` bytes have come (a small source is parsed inline: a worker's
    start costs more than it saves). At most a few chunks are in flight.

    When `items` raises, the items read before are still yielded first, then the exception
    propagates: an import commits what it read before a file was cut short.
    """

    def inline(chunk: list[T]) -> Iterator[tuple[T, ParsedRaw | None]]:
        for item in chunk:
            raw = raw_of(item)
            yield item, None if raw is None else parse_raw(raw)

    source = iter(items)
    first: list[T] = []
    size = 0
    try:
        for item in source:
            first.append(item)
            size += len(raw_of(item) or b"")
            if len(first) >= WORKER_THRESHOLD or size >= PARSE_CHUNK_BYTES:
                break
        else:  # a small source: inline
            yield from inline(first)
            return
    except GeneratorExit:
        raise
    except BaseException:
        yield from inline(first)
        raise
    with BodyIndexer(WORKER_THRESHOLD) as parser:
        flight: deque[tuple[list[T], Future[list[ParsedRaw]], list[bytes]]] = deque()

        def send(chunk: list[T]) -> None:
            raws = [raw for raw in map(raw_of, chunk) if raw is not None]
            flight.append((chunk, parser.submit_whole(raws), raws))

        def take() -> Iterator[tuple[T, ParsedRaw | None]]:
            chunk, future, raws = flight.popleft()
            parsed = iter(BodyIndexer.whole_result(future, raws))
            for item in chunk:
                yield item, None if raw_of(item) is None else next(parsed)

        send(first)
        chunk: list[T] = []
        size = 0
        try:
            for item in source:
                chunk.append(item)
                size += len(raw_of(item) or b"")
                if len(chunk) >= PARSE_CHUNK or size >= PARSE_CHUNK_BYTES:
                    send(chunk)
                    chunk, size = [], 0
                    while len(flight) >= parser.ahead:
                        yield from take()
        except GeneratorExit:
            raise  # the caller stopped reading: nothing more to give it
        except BaseException:
            if chunk:
                send(chunk)
            while flight:
                yield from take()
            raise
        if chunk:
            send(chunk)
        while flight:
            yield from take()
