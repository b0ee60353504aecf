"""Opening the store: SQLite in WAL mode, private file modes, schema checks, write transactions.

One connection per thread: sqlite3's `check_same_thread` stays on, so a connection handed to
another thread fails loudly instead of corrupting a transaction.

Durability: `synchronous=FULL`. In WAL mode NORMAL survives a crash of the program but a power
loss may roll back the last commits; the POP3 worker issues DELE, and the outbox removes a sent
message, only after the local commit that makes that safe, so losing that commit would lose or
double mail. FULL costs one fsync per commit, and the engines commit in batches.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuimail.core.paths import private_dir
from tuimail.store import index_entries, schema
from tuimail.store.errors import StoreError as StoreError  # re-exported: its home for callers

DB_FILENAME = "tuimail.db"
BUSY_TIMEOUT_SECONDS = 10.0
_CACHE_KIB = 16_384
_SIDE_FILES = ("-wal", "-shm", "-journal")
# Tombstones say what vanished after a revision (read.changes_since). Opening the store drops
# those older than this many revisions: a reader further behind (a long-suspended app) is told
# to reload what it shows, which is slower but as right.
TOMBSTONE_MARGIN = 10_000

# os.umask is process-wide: serialise our own changes to it.
_umask_lock = threading.Lock()


class SchemaTooNewError(StoreError):
    """The database was written by a newer tuimail whose schema this code does not know."""


class StoreFullError(StoreError):
    """The disk holding the store is full: nothing more can be written until space is freed."""


class StoreLockedError(StoreError):
    """Another program holds the store's write lock for longer than the busy timeout."""


def store_error(exc: sqlite3.Error, path: str | os.PathLike[str]) -> StoreError:
    """A StoreError that says in words a user can act on why SQLite failed on the store at
    `path`: a full disk, a lock held by another program, or a file that is not a store.

    Opening a store on a full disk may fail with "disk I/O error" rather than "database or disk
    is full" (the shared-memory file cannot grow), so an I/O error on a file system with no
    room left is reported as a full disk too.
    """
    primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if primary == sqlite3.SQLITE_FULL or (primary == sqlite3.SQLITE_IOERR and _no_room(path)):
        return StoreFullError(f"{path}: the disk is full ({exc}); free some space, then run again")
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreLockedError(
            f"{path}: the store is locked by another program ({exc}, after waiting "
            f"{BUSY_TIMEOUT_SECONDS:g} s); try again when it is done"
        )
    return StoreError(f"{path}: not a usable tuimail store ({exc})")


def failure(
    exc: BaseException, where: sqlite3.Connection | str | os.PathLike[str] | None
) -> StoreError | None:
    """`exc` as a StoreError in words when it is a failure of the store (a StoreError already,
    or an sqlite3 error such as a full disk); None for anything else. `where`: the store's
    connection or file."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sqlite3.Error):
        path = getattr(where, "path", None) if isinstance(where, sqlite3.Connection) else where
        return store_error(exc, path or "the store")
    return None


def _no_room(path: str | os.PathLike[str]) -> bool:
    try:
        usage = os.statvfs(Path(path).parent)
    except OSError:
        return False
    # Root may use reserved blocks that others cannot: count what the caller can use.
    available = usage.f_bavail if os.geteuid() else usage.f_bfree
    return available * usage.f_frsize < 64 * 1024


class StoreConnection(sqlite3.Connection):
    """A connection made by `connect`; it tracks the write transaction in progress."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Revision of the write transaction in progress, None outside one.
        self.write_revision: int | None = None
        self._savepoint_depth = 0
        self.path: Path | None = None  # the database file, set by connect()


def store_path(data_dir: str | os.PathLike[str]) -> Path:
    """Where the store of a data directory lives."""
    return Path(data_dir) / DB_FILENAME


def open_store(data_dir: str | os.PathLike[str]) -> StoreConnection:
    """Open (creating if needed) the store in `data_dir`; one call per thread that needs it."""
    return connect(store_path(data_dir))


def needs_upgrade(data_dir: str | os.PathLike[str]) -> bool:
    """Whether the store in `data_dir` exists and was made by an older schema (opening it
    migrates it, which for a large store takes a while: the caller may say so first). Read
    without writing or waiting; False when it cannot be told."""
    path = store_path(data_dir)
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0)
        try:
            return schema.user_version(conn) < schema.SCHEMA_VERSION
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def connect(path: str | os.PathLike[str]) -> StoreConnection:
    """Open the database at `path`, creating it and its directory privately, migrated to date.

    Raises SchemaTooNewError when the file was written by a newer schema, StoreError when it is
    not a usable database.
    """
    path = Path(path)
    # The data directory is private, also when it existed before with looser modes.
    private_dir(path.parent)
    with _umask_lock:
        old_umask = os.umask(0o077)
        try:
            conn = _open(path)
        finally:
            os.umask(old_umask)
    conn.path = path
    try:
        _restrict_modes(path)
        _check_and_migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    _prune_old_tombstones(conn)
    return conn


# SQLite's answers when it may not write the store or its side files (read-only files, a
# read-only directory or file system).
_NO_WRITE_CODES = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM)


def open_store_for_reading(data_dir: str | os.PathLike[str]) -> tuple[StoreConnection, bool]:
    """Open an existing store for a command that only reads it: `(connection, read_only)`.

    The store is opened as usual when it can be written. When it cannot (its files or directory
    are read-only), it is opened read-only instead, and `read_only` is True: reading works, a
    write fails. Raises StoreError as `open_store` does, or when the read-only store would need
    an upgrade.
    """
    try:
        return open_store(data_dir), False
    except StoreError as exc:
        cause = exc.__cause__
        code = (getattr(cause, "sqlite_errorcode", None) or 0) & 0xFF
        if code not in _NO_WRITE_CODES:
            raise
    except PermissionError:
        pass  # the data directory's modes could not be checked or set: it is not ours to write
    return _open_read_only(store_path(data_dir)), True


def _open_read_only(path: Path) -> StoreConnection:
    # mode=ro reads a store whose log index (-shm) can be used; when even that cannot be made
    # (a read-only directory), immutable=1 reads the file as it is, without any lock: right for
    # a store nobody can write.
    last: sqlite3.Error | None = None
    for options in ("mode=ro", "mode=ro&immutable=1"):
        uri = f"{path.resolve().as_uri()}?{options}"
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            factory=StoreConnection,
        )
        assert isinstance(conn, StoreConnection)
        conn.path = path
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB:d}")
            conn.execute("PRAGMA temp_store = MEMORY")
            _add_functions(conn)
            version = schema.user_version(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            last = exc
            continue
        if version != schema.SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"{path}: the store is read-only and needs an upgrade (schema version {version}, "
                f"this tuimail uses {schema.SCHEMA_VERSION}), which needs write access"
            )
        return conn
    assert last is not None
    raise store_error(last, path) from last


def open_store_exclusively(data_dir: str | os.PathLike[str]) -> StoreConnection:
    """Open an existing, up-to-date store when the disk is too full for `open_store`.

    SQLite's shared index of the write-ahead log (the -shm file) may need room that a full disk
    does not have; in exclusive locking mode the connection keeps that index in its own memory
    instead. Reading works; a write fails with StoreFullError while the disk is full and
    succeeds once there is room. No other program can use the store while this connection is
    open. Raises StoreError when the store cannot be opened this way or needs a migration
    (which would need room).
    """
    path = store_path(data_dir)
    if not path.is_file():
        raise StoreError(f"{path}: there is no store to open")
    with _umask_lock:  # a -wal file it makes is private, as in connect()
        old_umask = os.umask(0o077)
        try:
            conn = _open(path, exclusive=True)
        finally:
            os.umask(old_umask)
    conn.path = path
    try:
        version = schema.user_version(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise store_error(exc, path) from exc
    if version != schema.SCHEMA_VERSION:
        conn.close()
        raise StoreError(f"{path}: the store needs an upgrade, which needs room on the disk")
    return conn


def _open(path: Path, *, exclusive: bool = False) -> StoreConnection:
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,  # transactions are explicit: see transaction()
        factory=StoreConnection,
    )
    assert isinstance(conn, StoreConnection)
    try:
        if exclusive:  # before the log is first used: no shared-memory file (see above)
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot switch the store to WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000):d}")
        conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB:d}")
        conn.execute("PRAGMA temp_store = MEMORY")
        _add_functions(conn)
        # Touch the file so that -wal and -shm exist while the private umask is in force.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise store_error(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _add_functions(conn: StoreConnection) -> None:
    """The SQL functions the schema's triggers call (every store connection has them)."""
    index_entries.register(conn)


def _restrict_modes(path: Path) -> None:
    """Make the database and its side files 0600 (they may predate this code or a umask)."""
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)):
        try:
            info = candidate.stat()
        except FileNotFoundError:
            continue
        if stat.S_IMODE(info.st_mode) & 0o077:
            candidate.chmod(0o600)


def _check_and_migrate(conn: StoreConnection, path: Path) -> None:
    try:
        version = schema.user_version(conn)
        if version > schema.SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"{path}: this store has schema version {version}, but this tuimail only knows "
                f"versions up to {schema.SCHEMA_VERSION}; use a newer tuimail or another data "
                "directory"
            )
        if version < schema.SCHEMA_VERSION:
            schema.apply_migrations(conn)
    except sqlite3.DatabaseError as exc:
        raise store_error(exc, path) from exc


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[int]:
    """A write transaction; yields the store revision every row written in it should carry.

    The outermost call takes the write lock at once (BEGIN IMMEDIATE, so the busy timeout
    applies instead of a failed lock upgrade later) and bumps the store revision; nested calls
    join it through a savepoint, so a batch can wrap many single writes. Commits on success,
    rolls back on any exception.
    """
    if not isinstance(conn, StoreConnection):
        raise TypeError("store writes need a connection from tuimail.store.db.connect()")
    if conn.write_revision is not None:
        conn._savepoint_depth += 1
        name = f"nested_{conn._savepoint_depth:d}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn.write_revision
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        else:
            conn.execute(f"RELEASE {name}")
        finally:
            conn._savepoint_depth -= 1
        return
    if conn.in_transaction:
        raise StoreError("a store write cannot start inside a transaction opened elsewhere")
    conn.execute("BEGIN IMMEDIATE")
    try:
        revision = conn.execute(
            "UPDATE store_state SET revision = revision + 1 WHERE id = 1 RETURNING revision"
        ).fetchall()[0][0]
        conn.write_revision = revision
        yield revision
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.write_revision = None


def prune_tombstones(conn: sqlite3.Connection, up_to_revision: int) -> int:
    """Drop tombstones at or below a revision; asking for changes since an older revision then
    answers "reload everything". Returns how many were dropped.
    """
    with transaction(conn):
        dropped = conn.execute(
            "DELETE FROM tombstones WHERE revision <= ?", (up_to_revision,)
        ).rowcount
        conn.execute(
            "UPDATE store_state SET tombstone_floor = max(tombstone_floor, ?) WHERE id = 1",
            (up_to_revision,),
        )
        return int(dropped)


def _prune_old_tombstones(conn: StoreConnection) -> None:
    """Drop the tombstones more than TOMBSTONE_MARGIN revisions old, if there are any.

    Housekeeping: when another writer holds the store, or the disk is full, it waits for the
    next opening instead of delaying or failing this one.
    """
    (current,) = conn.execute("SELECT revision FROM store_state WHERE id = 1").fetchone()
    floor = int(current) - TOMBSTONE_MARGIN
    if floor <= 0:
        return
    if conn.execute("SELECT 1 FROM tombstones WHERE revision <= ?", (floor,)).fetchone() is None:
        return
    (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        prune_tombstones(conn, floor)
    except sqlite3.Error:
        pass
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout):d}")


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: the queries inside see one consistent state of the store."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def set_cache_size(conn: sqlite3.Connection, kib: int) -> None:
    """Set the page cache of `conn` to `kib` KiB (the store opens connections with 16 MiB)."""
    conn.execute(f"PRAGMA cache_size = -{kib:d}")


def commit_without_fsync(conn: sqlite3.Connection) -> None:
    """Commits on `conn` from here on without an fsync each (synchronous = NORMAL in WAL mode):
    a crash of the program loses none of them, a power loss may lose the last ones. For a
    pass that makes many small commits and ends with `sync_to_disk`."""
    conn.execute("PRAGMA synchronous = NORMAL")


def sync_to_disk(conn: sqlite3.Connection) -> None:
    """Make the commits of `conn` durable: FULL from here on, and a checkpoint, which syncs the
    WAL before it copies pages into the database."""
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
