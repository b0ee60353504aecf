"""The per-account sync lock, held by a real second process."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tuimail
from tuimail.store import lock

HOLDER = """
import sys
from tuimail.store import lock
held = lock.AccountLock(sys.argv[1], sys.argv[2], sys.argv[3])
held.acquire()
print("locked", flush=True)
sys.stdin.read()  # hold until the test closes our stdin
held.release()
"""


def start_holder(data_dir: Path, account: str, protocol: str) -> subprocess.Popen[str]:
    """A second process that takes the lock and keeps it until its stdin closes."""
    env = dict(os.environ)
    root = str(Path(tuimail.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir), account, protocol],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "locked", f"the holder did not take the lock: {line!r}"
    return process


@pytest.fixture
def holder(data_dir: Path) -> Iterator[subprocess.Popen[str]]:
    process = start_holder(data_dir, "work", "imap")
    yield process
    if process.poll() is None:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


def test_second_process_is_told_who_holds_the_lock(
    data_dir: Path, holder: subprocess.Popen[str]
) -> None:
    contender = lock.AccountLock(data_dir, "work", "imap")
    with pytest.raises(lock.LockBusyError) as caught:
        contender.acquire(timeout=0.2)
    assert caught.value.holder is not None
    assert caught.value.holder.pid == holder.pid
    message = str(caught.value)
    assert f"process {holder.pid}" in message
    assert "'work' (imap)" in message
    assert "since" in message
    assert "after waiting 0.2 s" in message
    assert not contender.held


def test_lock_is_free_once_the_holder_lets_go(
    data_dir: Path, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=10)
    with lock.AccountLock(data_dir, "work", "imap") as taken:
        assert taken.held
        record = taken.holder()
        assert record is not None and record.pid == os.getpid()
    assert not taken.held


def test_lock_is_free_when_the_holder_dies(data_dir: Path, holder: subprocess.Popen[str]) -> None:
    holder.kill()  # no cleanup at all: the kernel releases the lock
    holder.wait(timeout=10)
    with lock.AccountLock(data_dir, "work", "imap", timeout=5) as taken:
        assert taken.held


def test_waiting_acquire_gets_the_lock_when_released(
    data_dir: Path, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdin is not None
    holder.stdin.close()  # the holder releases while we wait
    contender = lock.AccountLock(data_dir, "work", "imap", timeout=30)
    contender.acquire()
    try:
        assert contender.held
    finally:
        contender.release()
        holder.wait(timeout=10)


def test_other_accounts_and_protocols_are_independent(
    data_dir: Path, holder: subprocess.Popen[str]
) -> None:
    with lock.AccountLock(data_dir, "work", "smtp"), lock.AccountLock(data_dir, "home", "imap"):
        pass


def test_one_process_cannot_take_its_own_lock_twice(data_dir: Path) -> None:
    with lock.AccountLock(data_dir, "work", "pop3"):
        with pytest.raises(lock.LockBusyError):
            lock.AccountLock(data_dir, "work", "pop3").acquire()
        again = lock.AccountLock(data_dir, "work", "pop3")
        with pytest.raises(lock.LockBusyError):
            again.acquire(timeout=0)


@pytest.mark.parametrize(
    "account",
    ["../../etc/passwd", "a/b", "..", ".", "", "x" * 5000, "name\x00nul", "tab\there", "é"],
)
def test_hostile_account_names_never_become_paths(data_dir: Path, account: str) -> None:
    name = lock.lock_file_name(account, "imap")
    assert "/" not in name and "\x00" not in name
    assert name not in (".", "..")
    assert len(name) < 100
    with lock.AccountLock(data_dir, account, "imap") as taken:
        assert taken.path.parent == data_dir / lock.LOCK_DIR
        assert taken.path.exists()
    assert sorted(p.name for p in (data_dir / lock.LOCK_DIR).iterdir()) == [name]


def test_plain_names_are_readable_and_distinct() -> None:
    assert lock.lock_file_name("work", "imap") == "work.imap.lock"
    names = {
        lock.lock_file_name(account, protocol)
        for account in ("work", "home", "a/b", "a\\b")
        for protocol in ("imap", "pop3")
    }
    assert len(names) == 8


def test_lock_files_are_private(data_dir: Path) -> None:
    with lock.AccountLock(data_dir, "work", "imap") as taken:
        assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(taken.path.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(taken.path).st_mode) == 0o600
