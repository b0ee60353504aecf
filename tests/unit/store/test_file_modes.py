"""Private files and directories: the store, its side files, locks, the log file, the config
written by the app and files saved for an opener are 0600 in 0700 directories, whatever the umask,
also when the directories existed before with looser modes; but tuimail never changes the mode of
the home directory, of a shared sticky directory, or of a parent it did not make.

The umask is process-wide: each test sets it for a moment and puts the old one back.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuimail.config.write import add_account
from tuimail.core import log as tlog
from tuimail.core.paths import private_dir
from tuimail.store import db
from tuimail.store.lock import AccountLock
from tuimail.ui.save import save_for_opening

UMASKS = [0o022, 0o002, 0o000]
CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def loose_dir(path: Path, permissions: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(permissions)
    return path


def loose_file(path: Path, data: bytes = b"", permissions: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(permissions)
    return path


def open_and_close_store(data_dir: Path) -> None:
    conn = db.open_store(data_dir)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()


@pytest.mark.parametrize("mask", UMASKS, ids=lambda m: f"umask{m:03o}")
def test_directories_made_are_0700_with_their_missing_parents(tmp_path: Path, mask: int) -> None:
    target = tmp_path / "home" / ".local" / "share" / "tuimail"
    with umask(mask):
        assert private_dir(target) == target
    for directory in (target, target.parent, target.parent.parent, target.parent.parent.parent):
        assert mode(directory) == 0o700, directory
    assert mode(tmp_path) == 0o700  # pytest made it so; it existed and is not tuimail's either


@pytest.mark.parametrize("mask", UMASKS, ids=lambda m: f"umask{m:03o}")
def test_a_new_store_and_its_side_files_are_private(tmp_path: Path, mask: int) -> None:
    data_dir = tmp_path / "share" / "tuimail"
    with umask(mask):
        conn = db.open_store(data_dir)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        conn.execute("INSERT INTO t VALUES (1)")  # the -wal holds a page now
        path = db.store_path(data_dir)
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            assert mode(file) == 0o600, file
        assert mode(data_dir) == 0o700
        assert mode(data_dir.parent) == 0o700
    finally:
        conn.close()


def test_an_existing_loose_data_dir_and_store_are_tightened(tmp_path: Path) -> None:
    parent = loose_dir(tmp_path / "share")
    data_dir = loose_dir(parent / "tuimail", 0o775)
    with umask(0o002):
        open_and_close_store(data_dir)  # the store as an older version (or a cp) left it
    path = db.store_path(data_dir)
    path.chmod(0o664)
    data_dir.chmod(0o775)
    with umask(0o002):
        conn = db.open_store(data_dir)
    try:
        assert mode(data_dir) == 0o700
        assert mode(path) == 0o600
        for suffix in ("-wal", "-shm"):
            assert mode(path.with_name(path.name + suffix)) == 0o600
    finally:
        conn.close()
    assert mode(parent) == 0o755  # an existing parent is the user's: left as it was


def test_the_home_directory_is_never_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = loose_dir(tmp_path / "home")
    monkeypatch.setenv("HOME", str(home))
    with umask(0o022):
        open_and_close_store(home)  # --data-dir ~ : odd, but the home keeps its mode
        private_dir(home)
    assert mode(home) == 0o755
    assert mode(db.store_path(home)) == 0o600


def test_a_shared_sticky_directory_is_never_tightened(tmp_path: Path) -> None:
    shared = loose_dir(tmp_path / "shared", 0o1777)
    with umask(0o022):
        open_and_close_store(shared)
    assert mode(shared) == 0o1777
    assert mode(db.store_path(shared)) == 0o600


@pytest.mark.parametrize("mask", UMASKS, ids=lambda m: f"umask{m:03o}")
def test_lock_files_are_private_also_when_left_loose(tmp_path: Path, mask: int) -> None:
    data_dir = loose_dir(tmp_path / "data")
    locks = loose_dir(data_dir / "locks")
    old = loose_file(locks / "work.imap.lock", b"1\n0\nold\n")
    with umask(mask), AccountLock(data_dir, "work", "imap"):
        assert mode(old) == 0o600
    with umask(mask), AccountLock(data_dir, "work", "pop3") as fresh:
        assert mode(fresh.path) == 0o600
    assert mode(data_dir) == 0o700
    assert mode(locks) == 0o700


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    tlog.setup_logging(None)


@pytest.mark.parametrize("mask", UMASKS, ids=lambda m: f"umask{m:03o}")
def test_the_log_file_is_private_in_private_directories_it_needed(
    tmp_path: Path, mask: int, restore_logging: None
) -> None:
    log_file = tmp_path / "state" / "tuimail" / "tuimail.core.log"
    with umask(mask):
        tlog.setup_logging(log_file, debug=True)
    assert mode(log_file) == 0o600
    assert mode(log_file.parent) == 0o700
    assert mode(log_file.parent.parent) == 0o700


def test_an_existing_log_file_is_made_private_and_its_directory_left_alone(
    tmp_path: Path, restore_logging: None
) -> None:
    directory = loose_dir(tmp_path / "logs")  # the user chose it: maybe the home directory
    log_file = loose_file(directory / "tuimail.core.log", b"an older line\n")
    with umask(0o022):
        tlog.setup_logging(log_file, debug=True)
    assert mode(log_file) == 0o600
    assert mode(directory) == 0o755
    assert log_file.read_bytes().startswith(b"an older line\n")  # appended to, not replaced


@pytest.mark.parametrize("mask", UMASKS, ids=lambda m: f"umask{m:03o}")
def test_the_config_written_by_the_app_is_private(tmp_path: Path, mask: int) -> None:
    path = tmp_path / "config" / "tuimail" / "config.toml"
    account = '[accounts.work]\naddress = "me@example.org"\n'
    with umask(mask):
        add_account(path, account)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700


def test_an_existing_loose_config_dir_is_tightened_when_the_app_writes_it(tmp_path: Path) -> None:
    parent = loose_dir(tmp_path / "config")
    directory = loose_dir(parent / "tuimail")
    path = loose_file(directory / "config.toml", b'[accounts.old]\naddress = "o@example.org"\n')
    with umask(0o022):
        add_account(path, '[accounts.work]\naddress = "me@example.org"\n')
    assert mode(path) == 0o600
    assert mode(directory) == 0o700
    assert mode(parent) == 0o755


@pytest.mark.parametrize("mask", UMASKS, ids=lambda m: f"umask{m:03o}")
def test_an_attachment_saved_for_the_opener_is_private(
    tmp_path: Path, mask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    raw = (CORPUS / "mixed-attachments.eml").read_bytes()
    with umask(mask):
        saved = save_for_opening(raw, 0)
    assert saved.parent.parent == tmp_path
    assert mode(saved) == 0o600
    assert mode(saved.parent) == 0o700


def test_a_file_for_the_user_goes_to_the_first_directory_that_takes_it(tmp_path: Path) -> None:
    from tuimail.core.paths import write_private_file

    missing = tmp_path / "Downloads"  # passed over: not there
    not_a_dir = tmp_path / "home"
    not_a_dir.write_text("a file, not a directory")
    data = tmp_path / "data" / "tuimail"  # the last: created 0700
    first = write_private_file([missing, not_a_dir, data], "shot.svg", b"<svg/>")
    second = write_private_file([missing, not_a_dir, data], "shot.svg", b"<svg>2</svg>")
    assert (first, second) == (data / "shot.svg", data / "shot (1).svg")  # never over another
    assert first.read_bytes() == b"<svg/>" and second.read_bytes() == b"<svg>2</svg>"
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert not missing.exists()
