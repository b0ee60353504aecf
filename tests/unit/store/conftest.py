"""Fixtures for the store tests: a fresh store in a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tuimail.core.model import FolderRole, Protocol
from tuimail.store import db, write


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory that does not exist yet (the store creates it)."""
    return tmp_path / "data"


@pytest.fixture
def conn(data_dir: Path) -> Iterator[db.StoreConnection]:
    """An open, migrated store."""
    connection = db.open_store(data_dir)
    yield connection
    connection.close()


@pytest.fixture
def imap_account(conn: db.StoreConnection) -> int:
    """An IMAP account called "work"."""
    return write.ensure_account(conn, "work", Protocol.IMAP)


@pytest.fixture
def inbox(conn: db.StoreConnection, imap_account: int) -> int:
    """The IMAP account's INBOX, with UIDVALIDITY 7."""
    folder_id = write.upsert_folder(conn, imap_account, "INBOX", role=FolderRole.INBOX)
    write.update_folder_state(conn, folder_id, uidvalidity=7)
    return folder_id
