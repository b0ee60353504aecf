"""`tuimail compact`: pack every stored body with the store's dictionary (a store made before
bodies were kept compressed holds them as they came), and the search index's texts kept before
the dictionary was trained, bring the search index's older entries up to date (the app does
that in the background too) and merge its b-trees into one, then give the freed space back to
the file system (VACUUM). Safe to stop: each batch is committed, and a body is replaced only
once its packed form reads back byte for byte."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

from tuimail.cli.errors import EXIT_FAILED, EXIT_OK, CommandError
from tuimail.config.schema import Config
from tuimail.core import paths
from tuimail.store import body_codec, index_entries
from tuimail.store.db import StoreError, open_store, store_path
from tuimail.store.reindex import reindex_all


def _size(data_dir: Path) -> int:
    """The store's bytes on disk: the database and its write-ahead log."""
    main = store_path(data_dir)
    return sum(p.stat().st_size for p in (main, main.with_name(main.name + "-wal")) if p.exists())


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def cmd_compact(args: argparse.Namespace, config: Config) -> int:
    """Pack the bodies, then VACUUM; say how much smaller the store got."""
    data_dir = paths.data_dir(args.data_dir)
    if not store_path(data_dir).exists():
        raise CommandError(f"there is no local store in {data_dir} yet", EXIT_FAILED)
    before = _size(data_dir)
    try:
        with closing(open_store(data_dir)) as conn:
            packed = body_codec.compact(conn)
            print(f"{packed} bod{'y' if packed == 1 else 'ies'} packed", file=sys.stdout)
            if texts := body_codec.compact(conn, table="index_texts"):
                print(f"{texts} search index texts packed", file=sys.stdout)
            if upgraded := reindex_all(conn):
                print(f"{upgraded} search index entries brought up to date", file=sys.stdout)
            index_entries.compact(conn)  # its b-trees merged into one: lookups read one
            try:
                body_codec.give_space_back(conn)
            except sqlite3.OperationalError as exc:
                print(
                    f"tuimail compact: the space is given back once no other tuimail uses the"
                    f" store (run compact again then): {exc}",
                    file=sys.stderr,
                )
                return EXIT_FAILED
    except StoreError as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None
    after = _size(data_dir)
    print(f"the store went from {_megabytes(before)} to {_megabytes(after)}", file=sys.stdout)
    return EXIT_OK
