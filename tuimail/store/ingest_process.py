"""Storing batches in a process of its own (`IngestWriter`), for a bulk ingest: the caller reads
and parses the next batch while the writer stores the one before.

Storing (SQLite, zstd) and reading with parsing each keep one CPU busy, and Python runs one
thread at a time: a second thread would take turns with the first, a second process runs beside
it. The writer is a process spawned for the purpose (not forked: the caller may have threads)
with a store connection of its own. It stores the batches in the order given, each in one
transaction (`ingest.store_messages` with `defer_index`: the bodies' text is indexed after), and
answers each with the batch's message ids once it is committed. The caller keeps the bookkeeping
that depends on a commit (counts, what to tell the user) until `wait` has returned for that
batch.

A failure in the writer (a full disk, a locked store) is raised by `wait` as the same exception.
After each commit the writer calls the caller's `after_commit` (a module-level function, so
that the writer can import it): where a crash point goes. A crash point reached in the writer
(tests; see tuimail.core.crashpoint) ends it with
CRASH_EXIT_CODE, and this process ends the same way when it finds that out: the two behave as
one process that crashed there. The writer ignores Ctrl-C (the caller decides what to keep, and
closes), and ends when the caller closes the pipe or is gone.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from tuimail.core.crashpoint import CRASH_EXIT_CODE
from tuimail.store import body_codec, db
from tuimail.store.errors import StoreError
from tuimail.store.ingest import IncomingMessage, store_messages

log = logging.getLogger(__name__)

# How long `close` waits for the writer to end once every batch is committed.
_END_SECONDS = 30.0


class IngestWriter:
    """A writer process for the store at `path` (see the module), which calls `after_commit`
    after each batch's commit. Use as a context manager, or `close` it."""

    def __init__(self, path: Path, *, after_commit: Callable[[], None]) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(str(path), child, after_commit),
            name="tuimail-store-writer",
            daemon=True,
        )
        self._process.start()
        child.close()
        self.waiting = 0  # batches submitted and not waited for

    def submit(self, folder_id: int, items: Sequence[IncomingMessage]) -> None:
        """Hand a batch of one folder's messages to the writer (returns once the writer has
        taken it). A Ctrl-C meanwhile is raised after the batch is handed over whole: cut in
        the middle, the pipe would hold half a batch."""
        try:
            with _interrupt_after():
                self._pipe.send((folder_id, list(items)))
                self.waiting += 1
        except OSError:
            self._ended()

    def wait(self) -> list[int]:
        """The message ids of the oldest batch not waited for, once it is committed; its
        failure is raised. A Ctrl-C meanwhile is raised once the answer is read whole."""
        if not self.waiting:
            raise ValueError("no batch is waiting")
        try:
            with _interrupt_after():
                try:
                    kind, value = self._pipe.recv()
                finally:
                    self.waiting -= 1  # answered (or never will be): a Ctrl-C keeps the count
        except (EOFError, OSError):
            self._ended()
        if kind == "ok":
            return list(value)
        raise value

    def close(self) -> None:
        """End the writer: it stores what it was given (each batch whole or not at all), then
        ends; this waits for that."""
        self._pipe.close()
        self._process.join(_END_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def __enter__(self) -> IngestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ended(self) -> NoReturn:
        self._process.join(_END_SECONDS)
        status = self._process.exitcode
        if status == CRASH_EXIT_CODE:
            os._exit(CRASH_EXIT_CODE)  # a test's crash point, in the writer: this process too
        raise StoreError(f"the process storing the messages ended unexpectedly (status {status})")


@contextlib.contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) for the block and raise KeyboardInterrupt after it, when one
    came; only the main thread can, elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: came.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if came:
        raise KeyboardInterrupt


def _serve(
    path: str, pipe: multiprocessing.connection.Connection, after_commit: Callable[[], None]
) -> None:
    """The writer: store each batch received, answer with its ids or its failure."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = db.connect(Path(path))
    try:
        while True:
            try:
                folder_id, items = pipe.recv()
            except EOFError:
                return
            try:
                ids = store_messages(conn, folder_id, items, defer_index=True)
                after_commit()
                body_codec.train_if_due(conn)  # once, when enough mail is stored
                reply: tuple[str, Any] = ("ok", ids)
            except sqlite3.Error as exc:
                reply = ("error", db.store_error(exc, path))
            except Exception as exc:
                reply = ("error", exc)
            try:
                pipe.send(reply)
            except OSError:
                return  # the caller is gone
            except Exception:  # an exception that cannot be pickled: its words
                pipe.send(("error", StoreError(f"storing the messages failed: {reply[1]}")))
    finally:
        conn.close()
