"""The scale group's corpus and store: the generated maildir (kept between invocations with
``--scale-corpus``), the config of the local account it is imported into, the free disk the
group needs, and the store's size on disk (by table and index when SQLite has ``dbstat``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.make_corpus import CorpusStats, Mailbox, write_corpus

if TYPE_CHECKING:
    from bench.bench import Options

SCALE_MESSAGES = 1_000_000
ACCOUNT = "scale"
ADDRESS = "alice@bench.invalid"
FOLDER = "INBOX"
STAMP = "corpus-complete"
# Free space the group asks for before it starts: the raw mail per message (the generator's mix:
# 23.8 KB a message at 20,000, three quarters of it base64 attachments) and the store per byte of
# raw mail (1.24x at 20,000 before issue 19's changes), with a margin.
RAW_BYTES_PER_MESSAGE = 25_000
STORE_PER_RAW = 1.5
BREAKDOWN_LINES = 8  # b-trees named in the store's breakdown (the rest summed)


@dataclass(frozen=True)
class ScaleCorpus:
    """The maildir, and where the store and the config go beside it."""

    size: int
    directory: Path
    stats: CorpusStats

    @property
    def maildir(self) -> Path:
        """The generated INBOX (what `tuimail import --maildir` reads)."""
        return self.directory / "Maildir"

    @property
    def data_dir(self) -> Path:
        """tuimail's data directory: the store the import makes (made again every invocation)."""
        return self.directory / "store"

    @property
    def config(self) -> Path:
        """tuimail's config: one local account (no server)."""
        return self.directory / "tuimail.toml"


def stamp_text(size: int, stats: CorpusStats) -> str:
    """What the corpus-complete stamp holds: the size, then the stats."""
    return f"{size}\n{json.dumps(asdict(stats))}\n"


def stats_from_stamp(text: str, size: int) -> CorpusStats | None:
    """The stats of a complete corpus of `size` messages from its stamp; None for a stamp of
    another size or one that cannot be read (the corpus is then built again)."""
    first, _, rest = text.partition("\n")
    if first != str(size):
        return None
    try:
        return CorpusStats(**json.loads(rest))
    except (ValueError, TypeError):
        return None


def cached_stats(directory: Path, size: int) -> CorpusStats | None:
    """The stats of the complete corpus in `directory`, if there is one of `size` messages."""
    try:
        return stats_from_stamp((directory / STAMP).read_text(), size)
    except OSError:
        return None


def build_corpus(directory: Path, size: int) -> tuple[ScaleCorpus, float]:
    """The maildir of `size` messages in `directory` (built unless a complete one is there) and
    its config; with the seconds the build took (0 when reused). Untimed."""
    config = ScaleCorpus(size, directory, CorpusStats(0, 0, 0, 0, 0)).config
    stats = cached_stats(directory, size)
    if stats is not None:
        write_config(config)
        return ScaleCorpus(size, directory, stats), 0.0
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    started = time.monotonic()
    maildir = ScaleCorpus(size, directory, CorpusStats(0, 0, 0, 0, 0)).maildir
    stats = write_corpus(Mailbox(maildir, os.getuid(), os.getgid(), ADDRESS), size,
                         subfolders=False)  # fmt: skip
    took = time.monotonic() - started
    (directory / STAMP).write_text(stamp_text(size, stats))
    write_config(config)
    return ScaleCorpus(size, directory, stats), took


def write_config(path: Path) -> None:
    """A config with one local account: its folders live only in the store."""
    from tuimail.config.load import load_config

    path.write_text(f'[accounts.{ACCOUNT}]\naddress = "{ADDRESS}"\n')
    path.chmod(0o600)
    load_config(path, must_exist=True)  # fails here, not in the timed runs, if it is wrong


def corpus_directory(options: Options) -> Path | None:
    """Where a kept corpus of this size lives (None: a temporary directory, made later)."""
    if options.scale_corpus is None:
        return None
    return options.scale_corpus / f"scale-{options.scale_messages}"


def space_needed(size: int, raw_bytes: int | None) -> int:
    """Bytes of free disk the group needs: the maildir unless it is built already (`raw_bytes`,
    its size, is then known) and the store the import makes."""
    raw = raw_bytes if raw_bytes is not None else size * RAW_BYTES_PER_MESSAGE
    return int((0 if raw_bytes is not None else raw) + raw * STORE_PER_RAW)


def space_problem(options: Options) -> str | None:
    """Why the group cannot run here (not enough free disk), or None."""
    directory = corpus_directory(options)
    stats = cached_stats(directory, options.scale_messages) if directory is not None else None
    need = space_needed(options.scale_messages, stats.total_bytes if stats else None)
    where = options.scale_corpus or Path(tempfile.gettempdir())
    existing = next(path for path in (where, *where.parents) if path.exists())
    free = shutil.disk_usage(existing).free
    if free >= need:
        return None
    return (
        f"the scale group needs about {need / 1e9:.1f} GB free in {where} for "
        f"{options.scale_messages} messages (maildir and store); {free / 1e9:.1f} GB are. "
        "Give --scale-corpus a directory on a larger disk, or fewer --scale-messages"
    )


# --- the store -----------------------------------------------------------------------------------


def store_bytes(data_dir: Path) -> int:
    """The store's size on disk: the database and its WAL, if any."""
    return sum(path.stat().st_size for path in data_dir.glob("tuimail.db*") if path.is_file())


def btree_bytes(database: Path) -> list[tuple[str, int]] | None:
    """Bytes of each table and index of the database (SQLite's dbstat), largest first; None
    when this SQLite is built without dbstat."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return [(str(name), int(size)) for name, size in found]


def page_totals(database: Path) -> tuple[int, int]:
    """(bytes in pages, bytes in free pages) of the database."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        conn.close()
    return page * pages, page * free


def breakdown(btrees: Sequence[tuple[str, int]], raw: int, top: int = BREAKDOWN_LINES) -> str:
    """The largest b-trees, in MB and as a share of the raw mail; the rest summed."""
    parts = [f"{name} {size / 1e6:.1f} MB ({size / raw:.2f}x)" for name, size in btrees[:top]]
    rest = btrees[top:]
    if rest:
        size = sum(size for _, size in rest)
        parts.append(f"{len(rest)} others {size / 1e6:.1f} MB ({size / raw:.2f}x)")
    return ", ".join(parts)
