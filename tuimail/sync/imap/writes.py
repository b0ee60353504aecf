"""How the IMAP engine commits its batches (`BatchWrites`): inline, or, within a pass that may
store much (`bulk_writes`: `tuimail sync`), by a writer process one batch behind the download.

A header or body pass of WRITER_MESSAGES messages or more starts the writer
(store/ingest_process.py) the first time; from then on the pass's batches are handed to it, and
the next batch is fetched and read while it stores the one before. Each write is a module-level
function of a connection (`resync.store_header_batch`, `bodies.store_body_batch`), run by the
writer or inline alike, with its crash points; what follows a commit (events, progress) runs on
the engine's thread once the writer has answered. A pass waits for all its writes before it
returns (`_writes_done`): what comes next reads the store. The app's session never opens a bulk
block: its passes are small and stay inline.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from tuimail.store.ingest_process import IngestWriter, start_writer

# From this many messages in one header or body pass, a writer process stores the batches:
# its start (a fresh interpreter, about a tenth of a second) costs more than it saves for fewer.
WRITER_MESSAGES = 1000


class BatchWrites:
    """The engine's batch commits (see the module)."""

    conn: sqlite3.Connection
    _bulk = False
    _writer: IngestWriter | None = None
    _after: deque[Callable[[Any], None]] | None = None

    @contextlib.contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Within the block, a large pass stores its batches with a writer process; every
        batch is committed, and the writer ended, when the block ends."""
        self._bulk = True
        try:
            yield
        finally:
            self._bulk = False
            writer = self._writer
            try:
                self._writes_done()
            finally:
                self._writer = None
                if writer is not None:
                    writer.close()

    def _store(
        self,
        expected: int,
        write: Callable[..., Any],
        *args: Any,
        then: Callable[[Any], None],
    ) -> None:
        """Run `write(connection, *args)`, then `then(its result)` on this thread once it is
        committed: inline, or by the writer (started when this pass is to store `expected`
        messages or more), one write behind."""
        writer = self._writer
        if writer is None and self._bulk and expected >= WRITER_MESSAGES:
            writer = self._writer = start_writer(self.conn)
        if writer is None:
            then(write(self.conn, *args))
            return
        if self._after is None:
            self._after = deque()
        writer.submit(write, *args)
        self._after.append(then)
        while writer.waiting > 1:  # one write is stored while the next batch is fetched
            self._after.popleft()(writer.wait())

    def _writes_done(self) -> None:
        """Wait for every write handed to the writer, and run what follows each."""
        writer = self._writer
        while writer is not None and writer.waiting:
            assert self._after is not None
            self._after.popleft()(writer.wait())
