"""Opening the store: file modes, pragmas, version checks, threads, write transactions."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from tuimail.store import db, read, schema


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_store_is_private(data_dir: Path) -> None:
    old_umask = os.umask(0o022)  # a typical permissive umask must not leak into the store
    try:
        conn = db.open_store(data_dir)
        conn.execute("SELECT 1").fetchone()
    finally:
        os.umask(old_umask)
    try:
        path = data_dir / db.DB_FILENAME
        assert mode(data_dir) == 0o700
        assert mode(path) == 0o600
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            assert side.exists(), f"{side.name} should exist while the store is open"
            assert mode(side) == 0o600
    finally:
        conn.close()


def test_umask_is_restored(data_dir: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        db.open_store(data_dir).close()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old_umask)


def test_existing_loose_files_are_tightened(data_dir: Path) -> None:
    db.open_store(data_dir).close()
    path = data_dir / db.DB_FILENAME
    wal = path.with_name(path.name + "-wal")
    wal.touch()
    path.chmod(0o644)
    wal.chmod(0o666)
    conn = db.open_store(data_dir)
    try:
        assert mode(path) == 0o600
        assert mode(wal) == 0o600
        shm = path.with_name(path.name + "-shm")
        assert mode(shm) == 0o600
    finally:
        conn.close()


def test_pragmas(conn: db.StoreConnection) -> None:
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert schema.user_version(conn) == schema.SCHEMA_VERSION


def test_the_page_cache_can_be_set_per_connection(conn: db.StoreConnection) -> None:
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -16_384  # KiB, as opened
    db.set_cache_size(conn, 4096)
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -4096


def test_newer_store_is_refused_with_both_versions(data_dir: Path) -> None:
    db.open_store(data_dir).close()
    path = data_dir / db.DB_FILENAME
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 5}")
    raw.close()
    with pytest.raises(db.SchemaTooNewError) as caught:
        db.open_store(data_dir)
    message = str(caught.value)
    assert str(path) in message
    assert f"version {schema.SCHEMA_VERSION + 5}" in message
    assert f"up to {schema.SCHEMA_VERSION}" in message
    assert isinstance(caught.value, db.StoreError)


def test_a_file_that_is_not_a_database_is_refused(data_dir: Path) -> None:
    data_dir.mkdir()
    path = data_dir / db.DB_FILENAME
    path.write_bytes(b"this is not SQLite\n" * 100)
    with pytest.raises(db.StoreError, match=str(path)):
        db.open_store(data_dir)


def test_a_connection_stays_in_its_thread(conn: db.StoreConnection) -> None:
    errors: list[BaseException] = []

    def use_elsewhere() -> None:
        try:
            read.revision(conn)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=use_elsewhere)
    worker.start()
    worker.join()
    assert len(errors) == 1
    assert isinstance(errors[0], sqlite3.ProgrammingError)


def test_each_write_transaction_bumps_the_revision_once(conn: db.StoreConnection) -> None:
    start = read.revision(conn)
    with db.transaction(conn) as revision:
        assert revision == start + 1
        with db.transaction(conn) as nested:
            assert nested == revision
    assert read.revision(conn) == start + 1
    with db.transaction(conn) as revision:
        assert revision == start + 2


def test_a_failed_transaction_leaves_nothing(conn: db.StoreConnection) -> None:
    start = read.revision(conn)
    with pytest.raises(RuntimeError), db.transaction(conn):
        conn.execute("INSERT INTO accounts (name, protocol, created) VALUES ('x', NULL, 0)")
        raise RuntimeError("boom")
    assert read.revision(conn) == start
    assert read.accounts(conn) == []
    assert not conn.in_transaction


def test_a_failed_nested_block_rolls_back_only_itself(conn: db.StoreConnection) -> None:
    with db.transaction(conn):
        conn.execute("INSERT INTO accounts (name, protocol, created) VALUES ('kept', NULL, 0)")
        with pytest.raises(RuntimeError), db.transaction(conn):
            conn.execute("INSERT INTO accounts (name, protocol, created) VALUES ('gone', NULL, 0)")
            raise RuntimeError("boom")
    assert [a.name for a in read.accounts(conn)] == ["kept"]


def test_writes_need_a_store_connection(tmp_path: Path) -> None:
    plain = sqlite3.connect(tmp_path / "plain.db")
    try:
        with pytest.raises(TypeError), db.transaction(plain):
            pass
    finally:
        plain.close()


def test_a_second_connection_sees_committed_writes(data_dir: Path) -> None:
    first = db.open_store(data_dir)
    second = db.open_store(data_dir)
    try:
        with db.transaction(first):
            first.execute("INSERT INTO accounts (name, protocol, created) VALUES ('a', NULL, 0)")
        assert [a.name for a in read.accounts(second)] == ["a"]
    finally:
        first.close()
        second.close()


def test_writers_in_two_threads_wait_for_each_other(data_dir: Path) -> None:
    db.open_store(data_dir).close()
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        conn = db.open_store(data_dir)  # one connection per thread
        try:
            for n in range(25):
                with db.transaction(conn):
                    conn.execute(
                        "INSERT INTO accounts (name, protocol, created) VALUES (?, NULL, 0)",
                        (f"{name}{n}",),
                    )
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    conn = db.open_store(data_dir)
    try:
        assert len(read.accounts(conn)) == 50
        assert read.revision(conn) == 50
    finally:
        conn.close()
