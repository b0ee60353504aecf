"""A full disk and a locked store: a clear error, and nothing acknowledged to the server.

Disk full is real: the data directory is a small tmpfs (mounted by the test, as root) that a
filler file fills to the last page, leaving a little room (or none) for the run. SQLite then
fails with SQLITE_FULL ("database or disk is full"). Each command must say so, exit non-zero,
and acknowledge nothing it could not record: `tuimail fetch` sends no DELE that takes effect
(the messages stay on the server), `tuimail sync` carries out no action that is not journalled,
`tuimail outbox flush` sends nothing it could not mark as being sent (and loses nothing it
sent). With the space back, the next run ends where an uninterrupted one does.

A locked store: another process holds SQLite's write lock (BEGIN EXCLUSIVE) for longer than the
busy timeout (`tuimail.store.db.BUSY_TIMEOUT_SECONDS`, shortened for these runs). The command
says the store is locked by another program, exits non-zero, and acknowledges nothing; once the
lock is released, the next run converges.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import snapshots
from tests.support.crash_walk import ACCOUNT, Run, settle, write_config
from tests.support.mailservers import MailServers
from tests.support.small_disk import SmallDisk
from tests.support.snapshots import (
    assert_store_matches_server,
    imap_snapshot,
    message_id_counts,
    store_snapshot,
)
from tuimail.core.crashpoint import ENV_VAR
from tuimail.store.db import StoreError
from tuimail.sync.pop3.download import WRITER_MESSAGES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BODY_LINES = 1500  # about 60 KB per message: a few fill the room left
# "the disk is full" or SQLite's "database or disk is full"; a lock file that cannot be written
# fails with the system's "No space left on device".
DISK_FULL = "disk is full|No space left on device"
LOCK_WAIT = 1.0  # seconds: the busy timeout of the runs below


# `python -m tuimail ARGS` with a shorter busy timeout, so a locked store gives up quickly.
_CLI = f"""
import sys
import tuimail.store.db as db
db.BUSY_TIMEOUT_SECONDS = {LOCK_WAIT}
from tuimail.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def big_message(number: int) -> bytes:
    """About 60 KB: a few of them fill the room a test leaves."""
    body = "".join(f"line {n:05d} of a long message body\r\n" for n in range(BODY_LINES))
    return (
        f"From: Sender {number} <sender{number}@example.org>\r\n"
        "To: someone@tuimail.test\r\n"
        f"Subject: large message {number}\r\n"
        f"Date: Tue, 03 Mar 2026 12:{number:02d}:00 +0000\r\n"
        f"Message-ID: <full-{number}@example.org>\r\n"
        "\r\n"
        f"{body}"
    ).encode()


class Account(Run):
    """A Run whose store lives in a directory of its own choosing (the small disk)."""

    def __init__(self, servers: MailServers, directory: Path, data: Path, prefix: str) -> None:
        super().__init__(servers, directory)
        self.users["me"] = servers.add_user(prefix)
        self.store_dir = data

    @property
    def data(self) -> Path:  # type: ignore[override]
        return self.store_dir

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
        env["PYTHONPATH"] = str(ROOT)
        common = ["--config", str(self.config), "--data-dir", str(self.data)]
        return subprocess.run(
            [sys.executable, "-c", _CLI, *common, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def append_big(self, numbers: range) -> None:
        with self.client() as client:
            for number in numbers:
                client.append("INBOX", big_message(number))

    def uidls(self) -> list[str]:
        return snapshots.pop3_uidls(
            self.servers.host,
            self.servers.pop3s_port,
            self.servers.ca_file,
            self.users["me"],
            self.password("me"),
        )


def fetch_fails_then_converges(
    box: Account, small_disk: SmallDisk, room: int
) -> snapshots.FolderState:
    """Fill the disk to `room`: a fetch says the disk is full and no DELE takes effect; free
    it: the next fetch empties the server. Returns the store's one folder then."""
    listed = box.uidls()
    small_disk.fill(room)
    says_disk_full(box.cli("fetch"))
    assert box.uidls() == listed, "no DELE took effect"
    small_disk.free()
    done = box.cli("fetch")
    assert done.returncode == 0, done.stderr
    assert box.uidls() == []
    (inbox,) = store_snapshot(box.data).folders.values()
    return inbox


def says_disk_full(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(DISK_FULL, result.stderr), result.stderr
    assert "Traceback" not in result.stderr, result.stderr


ROOMS = {"no-room": 0, "room-for-a-little": 128 * 1024}


# --- disk full


@pytest.mark.parametrize("room", list(ROOMS.values()), ids=list(ROOMS))
def test_fetch_on_a_full_disk_deletes_nothing_and_then_converges(
    mail_servers: MailServers, tmp_path: Path, small_disk: SmallDisk, room: int
) -> None:
    box = Account(mail_servers, tmp_path, small_disk.path / "data", "full-pop3")
    write_config(box, incoming="pop3", leave=False)
    first = box.cli("fetch")  # makes the store while there is room: the mailbox is empty
    assert first.returncode == 0, first.stderr
    originals = [big_message(number) for number in range(1, 7)]
    box.append_big(range(1, 7))
    inbox = fetch_fails_then_converges(box, small_disk, room)
    assert sorted(m.sha256 for m in inbox.messages) == sorted(map(snapshots.digest, originals))


def test_a_large_fetch_whose_writer_finds_the_disk_full_deletes_nothing_and_converges(
    mail_servers: MailServers, tmp_path: Path, small_disk: SmallDisk
) -> None:
    # Enough new messages for the writer process (download.WRITER_MESSAGES): the disk fills
    # in the writer, whose failure ends the download as the same disk-full error.
    box = Account(mail_servers, tmp_path, small_disk.path / "data", "full-pop3-big")
    write_config(box, incoming="pop3", leave=False)
    first = box.cli("fetch")
    assert first.returncode == 0, first.stderr
    count = WRITER_MESSAGES + 100
    originals = [small_message(number) for number in range(count)]
    mail_servers.deliver_many(box.users["me"], originals)
    assert len(box.uidls()) == count
    inbox = fetch_fails_then_converges(box, small_disk, ROOMS["room-for-a-little"])
    # Every message once, each with its body (the server added its own trace headers to the
    # bytes delivered, so they are compared by count and distinctness).
    digests = [m.sha256 for m in inbox.messages]
    assert len(digests) == count and None not in digests and len(set(digests)) == count


def small_message(number: int) -> bytes:
    return (
        f"From: Sender <sender{number}@example.org>\r\nTo: someone@tuimail.test\r\n"
        f"Subject: small {number}\r\nMessage-ID: <small-{number}@example.org>\r\n\r\n"
        + "a line of the body to fill the disk\r\n"
        * 20
    ).encode()


@pytest.mark.parametrize("room", list(ROOMS.values()), ids=list(ROOMS))
def test_sync_on_a_full_disk_carries_out_only_journalled_actions_and_then_converges(
    mail_servers: MailServers, tmp_path: Path, small_disk: SmallDisk, room: int
) -> None:
    box = Account(mail_servers, tmp_path, small_disk.path / "data", "full-imap")
    write_config(box, incoming="imap")
    box.append_big(range(1, 7))
    first = box.cli("sync")  # headers only: small
    assert first.returncode == 0, first.stderr
    journalled = enqueue(box, "delete", uid=1)
    small_disk.fill(0)
    with pytest.raises((StoreError, sqlite3.OperationalError), match=DISK_FULL):
        enqueue(box, "delete", uid=2)  # not journalled, so never carried out
    small_disk.free()

    small_disk.fill(room)
    says_disk_full(box.cli("sync", "--bodies"))
    with box.client() as client:
        client.select_folder("INBOX", readonly=True)
        on_server = set(client.search("ALL"))
    assert {2, 3, 4, 5, 6} <= on_server, "only the journalled action may have reached the server"

    small_disk.free()
    done = box.cli("sync", "--bodies")
    assert done.returncode == 0, done.stderr
    store = store_snapshot(box.data)
    with box.client() as client:
        server = imap_snapshot(client)
    assert_store_matches_server(store, server, ACCOUNT, server.mailboxes)
    assert [m.uid for m in server.mailboxes["INBOX"].messages] == [2, 3, 4, 5, 6]
    assert store.pending_ops == (), journalled


def enqueue(box: Account, kind: str, *, uid: int) -> list[int]:
    """Journal a user's action on the INBOX message `uid`, as the app does."""
    from tuimail.store import ops, read
    from tuimail.store.db import open_store

    conn = open_store(box.data)
    try:
        account = read.account_id(conn, ACCOUNT)
        assert account is not None
        inbox = read.find_folder(conn, account, "INBOX")
        assert inbox is not None
        row = read.message_id_by_uid(conn, inbox.id, uid)
        assert row is not None
        return ops.enqueue(conn, ops.OpKind(kind), [row])
    finally:
        conn.close()


@pytest.mark.parametrize("room", list(ROOMS.values()), ids=list(ROOMS))
def test_flush_on_a_full_disk_sends_nothing_twice_and_loses_nothing(
    mail_servers: MailServers, tmp_path: Path, small_disk: SmallDisk, room: int
) -> None:
    box = Account(mail_servers, tmp_path, small_disk.path / "data", "full-from")
    box.users["to"] = mail_servers.add_user("full-to")
    write_config(box, incoming="imap", smtp=True)
    ids = queue_messages(box, 3)

    small_disk.fill(room)
    says_disk_full(box.cli("outbox", "flush"))
    settle(mail_servers)
    with box.client("to") as client:
        early = message_id_counts(client, "INBOX")
    assert all(early[message_id] <= 1 for message_id in ids), early

    small_disk.free()
    box.cli("outbox", "flush")
    settle(mail_servers)
    with box.client("to") as client:
        delivered = message_id_counts(client, "INBOX")
    states = {item[0]: item[1] for item in store_snapshot(box.data).outbox}
    for message_id in ids:
        # Sent exactly once; or, when the disk filled up after the final ".", 'unknown' (never
        # resent by itself) and delivered once at most.
        assert states[message_id] in ("sent", "unknown"), states
        if states[message_id] == "sent":
            assert delivered[message_id] == 1, (message_id, delivered)
        else:
            assert delivered[message_id] <= 1, (message_id, delivered)
    assert sum(state == "sent" for state in states.values()) >= 1


def queue_messages(box: Account, count: int) -> list[str]:
    files, ids = [], []
    for number in range(1, count + 1):
        message_id = f"full-send-{number}@tuimail.test"
        path = box.directory / f"m{number}.eml"
        path.write_bytes(
            f"To: {box.servers.address(box.users['to'])}\r\n"
            f"Subject: sent while the disk fills {number}\r\n"
            f"Message-ID: <{message_id}>\r\n"
            "\r\n".encode()
            + big_message(number).partition(b"\r\n\r\n")[2]
        )
        files.append(str(path))
        ids.append(message_id)
    queued = box.cli("send", "--queue-only", "--now", *files)
    assert queued.returncode == 0, queued.stderr
    return ids


# --- a locked store


@pytest.fixture
def write_lock() -> Iterator[Callable[[Path], None]]:
    """`write_lock(data_dir)`: another process takes the store's write lock (BEGIN EXCLUSIVE)
    and holds it until the test ends or calls `write_lock.release()`."""
    holders: list[subprocess.Popen[str]] = []

    def hold(data_dir: Path) -> None:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(data_dir / "tuimail.db")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"

    def release() -> None:
        while holders:
            holder = holders.pop()
            assert holder.stdin is not None
            holder.stdin.close()  # the holder rolls back and exits
            holder.wait(timeout=30)

    hold.release = release  # type: ignore[attr-defined]
    try:
        yield hold
    finally:
        release()


_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def says_locked(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "database is locked" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_fetch_with_the_store_locked_deletes_nothing_and_then_converges(
    mail_servers: MailServers, tmp_path: Path, write_lock: Any
) -> None:
    box = Account(mail_servers, tmp_path, tmp_path / "data", "locked-pop3")
    write_config(box, incoming="pop3", leave=False)
    assert box.cli("fetch").returncode == 0  # the store exists
    box.append_big(range(1, 4))
    listed = box.uidls()

    write_lock(box.data)
    says_locked(box.cli("fetch"))
    assert box.uidls() == listed, "no DELE took effect"

    write_lock.release()
    done = box.cli("fetch")
    assert done.returncode == 0, done.stderr
    assert box.uidls() == []
    (inbox,) = store_snapshot(box.data).folders.values()
    expected = sorted(snapshots.digest(big_message(number)) for number in range(1, 4))
    assert sorted(m.sha256 for m in inbox.messages) == expected


def test_sync_with_the_store_locked_changes_nothing_on_the_server_and_then_converges(
    mail_servers: MailServers, tmp_path: Path, write_lock: Any
) -> None:
    box = Account(mail_servers, tmp_path, tmp_path / "data", "locked-imap")
    write_config(box, incoming="imap")
    box.append_big(range(1, 4))
    assert box.cli("sync").returncode == 0
    enqueue(box, "delete", uid=1)
    with box.client() as client:
        before = imap_snapshot(client)

    write_lock(box.data)
    says_locked(box.cli("sync", "--bodies"))
    with box.client() as client:
        assert imap_snapshot(client) == before, "nothing was carried out on the server"

    write_lock.release()
    done = box.cli("sync", "--bodies")
    assert done.returncode == 0, done.stderr
    store = store_snapshot(box.data)
    with box.client() as client:
        server = imap_snapshot(client)
    assert_store_matches_server(store, server, ACCOUNT, server.mailboxes)
    assert [m.uid for m in server.mailboxes["INBOX"].messages] == [2, 3]
    assert store.pending_ops == ()


def test_flush_with_the_store_locked_sends_nothing_and_then_sends_each_once(
    mail_servers: MailServers, tmp_path: Path, write_lock: Any
) -> None:
    box = Account(mail_servers, tmp_path, tmp_path / "data", "locked-from")
    box.users["to"] = mail_servers.add_user("locked-to")
    write_config(box, incoming="imap", smtp=True)
    ids = queue_messages(box, 2)

    write_lock(box.data)
    says_locked(box.cli("outbox", "flush"))
    settle(mail_servers)
    with box.client("to") as client:
        assert message_id_counts(client, "INBOX") == {}, "nothing was sent"

    write_lock.release()
    done = box.cli("outbox", "flush")
    assert done.returncode == 0, done.stdout + done.stderr
    settle(mail_servers)
    with box.client("to") as client:
        assert dict(message_id_counts(client, "INBOX")) == {message_id: 1 for message_id in ids}
    assert [item[1] for item in store_snapshot(box.data).outbox] == ["sent", "sent"]
