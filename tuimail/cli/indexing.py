"""The end of `tuimail sync`, `fetch` and `import`: the bodies they stored unparsed (the mail is
durable first, store/ingest.py's `defer_index`) are parsed and made searchable before the
command returns. Stopped (Ctrl-C, a failure), nothing is lost: the next run, or the app in the
background, indexes what is left."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import TextIO

from tuimail.store.db import StoreError, open_store, store_path


def complete_index(
    data_dir: Path, out: TextIO, err: TextIO, *, cancel: threading.Event | None = None
) -> None:
    """Index what the command stored unparsed; on a terminal, say how many when there were
    any."""
    if not store_path(data_dir).exists():
        return
    try:
        conn = open_store(data_dir)
    except StoreError as exc:
        print(f"tuimail: the search index is completed by the next run: {exc}", file=err)
        return
    try:
        # The indexing modules load only when something waits (not on a run that brought
        # nothing, which should start and end quickly).
        from tuimail.store.index_entries import behind

        if not behind(conn):
            return  # the usual case of a run that brought nothing: no worker is loaded
        from tuimail.store.indexer import complete_index as complete  # multiprocessing

        started = time.monotonic()
        done = complete(conn, stop=cancel.is_set if cancel is not None else lambda: False)
    except (StoreError, sqlite3.Error) as exc:
        print(f"tuimail: the search index is completed by the next run: {exc}", file=err)
        return
    finally:
        conn.close()
    if done and out.isatty():  # a terminal is told; cron's mail and pipes are not
        seconds = time.monotonic() - started
        plural = "" if done == 1 else "s"
        print(f"{done} message{plural} indexed for search in {seconds:.1f} s", file=out)
