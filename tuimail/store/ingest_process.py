"""Storing batches in a process of its own (`IngestWriter`), for a bulk ingest: the caller reads
and parses the next batch while the writer stores the one before.

Storing (SQLite, zstd) and reading with parsing each keep one CPU busy, and Python runs one
thread at a time: a second thread would take turns with the first, a second process runs beside
it. The writer is a process spawned for the purpose (not forked: the caller may have threads)
with a store connection of its own. It runs the writes it is given in order: each is a
module-level function (so that the writer can import it) called with the writer's connection and
the arguments given, typically one batch stored in one transaction with the crash points of its
steps. `wait` returns a write's result once it is done; the caller keeps the bookkeeping that
depends on a commit (counts, events, a POP3 DELE) until then.

A failure in the writer (a full disk, a locked store) is raised by `wait` as the same exception,
and the writer goes on with the next write. A crash point reached in the writer (tests; see
tuimail.core.crashpoint) ends it with CRASH_EXIT_CODE, and this process ends the same way when it
finds that out: the two behave as one process that crashed there. The writer ignores Ctrl-C (the
caller decides what to keep); handing a write over, and reading its answer, hold a Ctrl-C back
until they are whole. The writer does what it was given, then ends when the caller closes it or
is gone.

`start_writer` gives None when no process can be started: the caller stores inline, slower.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tuimail.core.crashpoint import CRASH_EXIT_CODE
from tuimail.store import db
from tuimail.store.errors import StoreError

if TYPE_CHECKING:
    import multiprocessing.connection

log = logging.getLogger(__name__)

# How long `close` waits for the writer to finish what it was given and end.
_END_SECONDS = 60.0
# The writer's page cache and how much its log may hold before it is written into the store.
# Each message stored goes into indexes ordered by values in no order (Message-ID, sender,
# subject, size): past a few hundred thousand messages their pages no longer fit the 16 MiB
# other connections have, and each insert read a page back; and a log written into the store
# every 4 MiB (SQLite's default) wrote the same index pages again after every batch or two.
WRITER_CACHE_KIB = 96 * 1024
WRITER_CHECKPOINT_PAGES = 16_384  # 64 MiB of 4 KiB pages


class IngestWriter:
    """A writer process for the store at `path` (see the module). Use as a context manager, or
    `close` it."""

    def __init__(self, path: Path) -> None:
        import multiprocessing  # here: a run that stores little never loads it

        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(str(path), child, _log_file(), _stderr_usable()),
            name="tuimail-store-writer",
            daemon=True,
        )
        # The writer starts with SIGINT blocked (the signal mask passes through the spawn): a
        # Ctrl-C in the tenth of a second before it ignores SIGINT (`_serve`) would end it.
        # Here a Ctrl-C meanwhile waits the moment the start takes, then comes as usual.
        # The spawn starts multiprocessing's resource tracker first if it is not running, and
        # that unblocks SIGINT in this thread: it is started before, not in between.
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        child.close()
        self.waiting = 0  # writes handed over and not waited for

    def submit(self, write: Callable[..., Any], *args: Any) -> None:
        """Hand `write(connection, *args)` to the writer (returns once the writer has taken
        it). A Ctrl-C meanwhile is raised after it is handed over whole: cut in the middle, the
        pipe would hold half a batch."""
        try:
            with _interrupt_after():
                self._pipe.send((write, args))
                self.waiting += 1
        except OSError:
            self._ended()

    def wait(self) -> Any:
        """The result of the oldest write not waited for, once it is done; its failure is
        raised. A Ctrl-C meanwhile is raised once the answer is read whole."""
        if not self.waiting:
            raise ValueError("no write is waiting")
        try:
            with _interrupt_after():
                try:
                    kind, value = self._pipe.recv()
                finally:
                    self.waiting -= 1  # answered (or never will be): a Ctrl-C keeps the count
        except (EOFError, OSError):
            self._ended()
        if kind == "ok":
            return value
        raise value

    def close(self) -> None:
        """End the writer: it finishes what it was given (a batch is stored whole or not at
        all), then ends; this waits for that."""
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


def start_writer(conn: sqlite3.Connection) -> IngestWriter | None:
    """A writer for the store `conn` is open on; None when it is not a file store, or no
    process can be started (the caller stores inline)."""
    path = getattr(conn, "path", None)
    if path is None:
        return None
    try:
        return IngestWriter(path)
    except (OSError, RuntimeError, ValueError):
        log.warning(
            "no process could be started to store the messages; storing inline", exc_info=True
        )
        return None


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


def _log_file() -> str | None:
    """The log file this process writes, for the writer to write to as well."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


def _stderr_usable() -> bool:
    """Whether this process's stderr is its own (not the app's: the terminal is its screen)."""
    try:
        return sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


def _serve(
    path: str,
    pipe: multiprocessing.connection.Connection,
    log_file: str | None,
    stderr_usable: bool,
) -> None:
    """The writer: run each write received, answer with its result or its failure."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C held back until now is dropped
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if not stderr_usable:  # the app's screen: nothing of the writer may land on it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    from tuimail.core.log import setup_logging

    setup_logging(Path(log_file) if log_file else None)
    conn = db.connect(Path(path))
    db.set_cache_size(conn, WRITER_CACHE_KIB)
    conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES:d}")
    # The next write is received (read whole and unpickled) while this one is stored: SQLite
    # lets go of Python's lock while it works, and the caller need not wait for the store to
    # hand the next batch over.
    incoming: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    threading.Thread(target=_receive, args=(pipe, incoming), name="receive", daemon=True).start()
    try:
        while True:
            kind, received = incoming.get()
            if kind == "end":
                return
            if kind == "unreadable":  # read whole, but not unpickled: the next one can be
                pipe.send(("error", StoreError(f"a batch to store could not be read: {received}")))
                continue
            write, args = received
            try:
                reply: tuple[str, Any] = ("ok", write(conn, *args))
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


def _receive(pipe: multiprocessing.connection.Connection, incoming: queue.Queue[Any]) -> None:
    """The writer's receiving thread: each write as it comes, then the end (the caller closed
    its end, or is gone)."""
    while True:
        try:
            write = pipe.recv()
        except (EOFError, OSError):
            incoming.put(("end", None))
            return
        except Exception as exc:
            incoming.put(("unreadable", exc))
            continue
        incoming.put(("write", write))
