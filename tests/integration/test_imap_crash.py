"""Crashes, cut connections and hostile responses during an IMAP sync: the next sync converges.

The sync command runs in a subprocess with TUIMAIL_CRASH_AT set (it exits with 77 at the step,
without any cleanup), then again without it; the store must then hold exactly what the server
holds: the same UIDs and flags, exact bytes, no duplicates, nothing missing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import imapclient
import pytest

from tests.support.imap_sync import (
    ACCOUNT,
    FaultProxyFactory,
    Mailbox,
    ReducedDovecot,
    Server,
    append,
    folder_id,
    new_mailbox,
    proxied,
    run_sync,
    server_view,
    store_view,
    write_config,
)
from tests.support.proxy import Faults
from tuimail.core.crashpoint import CRASH_EXIT_CODE, ENV_VAR, KNOWN_CRASHPOINTS
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.sync.imap.account import ImapSync
from tuimail.sync.imap.connect import connect_imap
from tuimail.sync.imap.engine import BODY_BATCH, FIRST_PAGE, HEADER_BATCH
from tuimail.sync.imap.extensions import LiteralTooLargeError
from tuimail.sync.imap.writes import WRITER_MESSAGES

pytestmark = pytest.mark.integration

MESSAGES = FIRST_PAGE + 30  # two header batches in a first sync


def sync_process(
    config: Path, data_dir: Path, *args: str, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop(ENV_VAR, None)
    if crash_at:
        env[ENV_VAR] = crash_at
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tuimail",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "sync",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_converged(box: Mailbox, data_dir: Path, *, bodies: bool = False) -> None:
    conn = open_store(data_dir)
    try:
        assert store_view(conn) == server_view(box)
        inbox = read.folder(conn, folder_id(conn, "INBOX"))
        assert inbox is not None and inbox.uidnext is not None and inbox.sync_resume is None
        with box.device() as device:
            state = device.folder_status("INBOX", ["UIDNEXT", "UIDVALIDITY"])
            assert inbox.uidnext == state[b"UIDNEXT"]
            assert inbox.uidvalidity == state[b"UIDVALIDITY"]
            if bodies:
                device.select_folder("INBOX", readonly=True)
                server = device.fetch(device.search("ALL"), ["BODY.PEEK[]"])
                for uid, item in server.items():
                    message_id = read.message_id_by_uid(conn, inbox.id, uid)
                    assert message_id is not None
                    assert read.body(conn, message_id) == item[b"BODY[]"]
    finally:
        conn.close()


FIRST_SYNC_CRASHES = [
    "imap.headers_committed",
    "imap.headers_committed:2",
    "imap.bodies_committed",
    "imap.folder_synced",
]


@pytest.mark.parametrize("crash_at", FIRST_SYNC_CRASHES)
def test_a_crash_during_the_first_sync_is_repaired_by_the_next(
    crash_at: str, mail_servers: Server, tmp_path: Path
) -> None:
    assert crash_at.split(":")[0] in KNOWN_CRASHPOINTS
    box = new_mailbox(mail_servers)
    append(box, MESSAGES)
    config = write_config(box, tmp_path / "config.toml")
    data = tmp_path / "data"
    crashed = sync_process(config, data, "--bodies", crash_at=crash_at)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    done = sync_process(config, data, "--bodies")
    assert done.returncode == 0, done.stderr
    assert_converged(box, data, bodies=True)


RESYNC_CRASHES = [
    "imap.expunges_committed",
    "imap.flags_committed",
    "imap.headers_committed",
    "imap.folder_synced",
]


@pytest.mark.parametrize("crash_at", RESYNC_CRASHES)
def test_a_crash_during_a_resync_is_repaired_by_the_next(
    crash_at: str, mail_servers: Server, tmp_path: Path
) -> None:
    assert crash_at in KNOWN_CRASHPOINTS
    box = new_mailbox(mail_servers)
    append(box, 10)
    config = write_config(box, tmp_path / "config.toml")
    data = tmp_path / "data"
    assert sync_process(config, data, "--folder", "INBOX").returncode == 0
    with box.device() as device:
        device.select_folder("INBOX")
        uids = sorted(device.search("ALL"))
        device.add_flags(uids[:3], [imapclient.FLAGGED])
        device.delete_messages(uids[3:5])
        device.uid_expunge(uids[3:5])
    append(box, 4, start=200)
    crashed = sync_process(config, data, "--folder", "INBOX", crash_at=crash_at)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert sync_process(config, data, "--folder", "INBOX").returncode == 0
    assert_converged(box, data)


def test_a_connection_reset_mid_fetch_fails_cleanly_and_the_next_sync_converges(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    # About 350 bytes of FETCH response per message: the cut falls in the second batch.
    count = FIRST_PAGE + 300
    box, proxy = proxied(mail_servers, fault_proxy, server=Faults(close_after=60_000, reset=True))
    append(box, count)
    config = write_config(box, tmp_path / "config.toml")
    data = tmp_path / "data"
    cut = sync_process(config, data, "--folder", "INBOX")
    assert cut.returncode == 1
    assert "IMAP failed" in cut.stderr and "connection" in cut.stderr
    conn = open_store(data)
    try:
        assert 0 < len(store_view(conn)) < count, "the cut fell inside the header fetch"
    finally:
        conn.close()
    proxy.server = Faults()
    assert sync_process(config, data, "--folder", "INBOX").returncode == 0
    assert_converged(box, data)


def test_an_expunge_by_another_client_during_the_sync_converges(
    mail_servers: Server, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    append(box, 30)
    other = box.device()
    other.select_folder("INBOX")
    expunged = False

    def expunge_midway(event: object) -> None:
        nonlocal expunged
        from tuimail.sync.events import StoreChanged

        if isinstance(event, StoreChanged) and not expunged:
            expunged = True
            uids = sorted(other.search("ALL"))
            other.delete_messages(uids[:5])
            other.uid_expunge(uids[:5])

    try:
        run_sync(box, tmp_path, folder="INBOX", emit=expunge_midway, first_page=5, header_batch=5)
    finally:
        other.logout()
    assert expunged
    run_sync(box, tmp_path, folder="INBOX")
    conn = open_store(tmp_path)
    try:
        assert store_view(conn) == server_view(box)
        assert len(store_view(conn)) == 25
    finally:
        conn.close()


def huge_literal(line: bytes) -> bytes:
    """Announce a 100 GB literal for a body instead of its real size."""
    return re.sub(rb"BODY\[\] \{\d+\}(\r?\n)$", rb"BODY[] {100000000000}\1", line)


def test_a_huge_literal_is_refused_without_reading_it(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    box, _proxy = proxied(mail_servers, fault_proxy, server=Faults(rewrite_line=huge_literal))
    append(box, 1)
    run_sync(box, tmp_path, folder="INBOX")
    conn = open_store(tmp_path)
    account = box.account()
    assert account.incoming is not None
    client = connect_imap(account.incoming, ca_file=account.ca_file, password=lambda: box.password)
    try:
        engine = ImapSync(conn, ACCOUNT, client, max_literal=10_000_000)
        wanted = read.message_ids(conn, folder_id(conn, "INBOX"))[0]
        with pytest.raises(LiteralTooLargeError, match="100,000,000,000"):
            engine.fetch_body(wanted)
        assert read.body(conn, wanted) is None
    finally:
        client.shutdown()
        conn.close()


def test_the_command_refuses_unknown_and_non_imap_accounts(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[accounts.pop]\naddress = "a@example.org"\n[accounts.pop.pop3]\nhost = "127.0.0.1"\n',
        encoding="utf-8",
    )
    unknown = sync_process(config, tmp_path / "data", "nosuch")
    assert unknown.returncode == 2 and "no account named 'nosuch'" in unknown.stderr
    pop = sync_process(config, tmp_path / "data", "pop")
    assert pop.returncode == 2 and "has no IMAP server" in pop.stderr
    assert not (tmp_path / "data").exists(), "nothing ran"


def test_the_command_reports_a_wrong_password(mail_servers: Server, tmp_path: Path) -> None:
    box = new_mailbox(mail_servers)
    config = write_config(box, tmp_path / "config.toml")
    text = config.read_text(encoding="utf-8").replace(box.password, "wrong-password")
    config.write_text(text, encoding="utf-8")
    result = sync_process(config, tmp_path / "data")
    assert result.returncode == 1
    assert "wrong user name or password" in result.stderr
    assert "wrong-password" not in result.stderr + result.stdout


def test_a_crash_after_an_op_reached_the_server_replays_it_harmlessly(
    mail_servers: Server, tmp_path: Path
) -> None:
    from tuimail.store import ops

    assert "imap.op_replayed" in KNOWN_CRASHPOINTS
    box = new_mailbox(mail_servers)
    append(box, 3)
    config = write_config(box, tmp_path / "config.toml")
    data = tmp_path / "data"
    assert sync_process(config, data, "--folder", "INBOX").returncode == 0
    conn = open_store(data)
    try:
        first, second, _ = read.message_ids(conn, folder_id(conn, "INBOX"))
        ops.enqueue(conn, ops.OpKind.DELETE, [first])
        ops.enqueue(conn, ops.OpKind.SEEN, [second])
    finally:
        conn.close()
    crashed = sync_process(config, data, "--folder", "INBOX", crash_at="imap.op_replayed")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert len(server_view(box)) == 2, "the delete reached the server before the crash"
    assert sync_process(config, data, "--folder", "INBOX").returncode == 0
    assert_converged(box, data)
    conn = open_store(data)
    try:
        account = read.account_id(conn, ACCOUNT)
        assert account is not None and ops.pending(conn, account) == []
        assert "\\Seen" in server_view(box)[read.row(conn, second).uid or 0][0]  # type: ignore[union-attr]
    finally:
        conn.close()


@pytest.mark.parametrize("crash_at", ["imap.op_replayed", "imap.op_replayed:2"])
@pytest.mark.parametrize("without", [(), ("MOVE",), ("MOVE", "UIDPLUS")], ids=str)
def test_a_crash_after_a_move_and_copy_reached_the_server_does_not_repeat_them(
    without: tuple[str, ...], crash_at: str, reduced_dovecot: ReducedDovecot, tmp_path: Path
) -> None:
    from tuimail.store import ops

    box = new_mailbox(reduced_dovecot(without=set(without)))
    with box.device() as device:
        device.create_folder("Archive")
    append(box, 3)
    config = write_config(box, tmp_path / "config.toml")
    data = tmp_path / "data"
    assert sync_process(config, data).returncode == 0
    conn = open_store(data)
    try:
        archive = folder_id(conn, "Archive")
        first, second, _ = read.message_ids(conn, folder_id(conn, "INBOX"))
        ops.enqueue(conn, ops.OpKind.MOVE, [first], to_folder_id=archive)
        ops.enqueue(conn, ops.OpKind.COPY, [second], to_folder_id=archive)
    finally:
        conn.close()
    crashed = sync_process(config, data, crash_at=crash_at)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    reached = 2 if crash_at.endswith(":2") else 1
    assert len(server_view(box, "Archive")) == reached, "the op reached the server"

    assert sync_process(config, data).returncode == 0
    archive_view = server_view(box, "Archive")
    assert len(archive_view) == 2, "neither was carried out twice"
    conn = open_store(data)
    try:
        assert store_view(conn, "Archive") == archive_view
        assert store_view(conn) == {
            uid: item for uid, item in server_view(box).items() if "\\Deleted" not in item[0]
        }
        account = read.account_id(conn, ACCOUNT)
        assert account is not None and ops.pending(conn, account) == []
        placeholders = conn.execute("SELECT count(*) FROM messages WHERE uid IS NULL")
        assert placeholders.fetchone()[0] == 0
    finally:
        conn.close()


# A first sync of this many messages stores its header and body batches with a writer process
# (sync/imap/writes.py): the crash points are reached there, and the sync ends as one would.
LARGE = WRITER_MESSAGES + 100
LARGE_CRASHES = ["imap.headers_committed:2", "imap.bodies_committed:3", "imap.folder_synced"]


@pytest.mark.parametrize("crash_at", LARGE_CRASHES)
def test_a_crash_in_a_large_first_sync_is_repaired_by_the_next(
    crash_at: str, mail_servers: Server, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    append(box, LARGE)
    config = write_config(box, tmp_path / "config.toml")
    data = tmp_path / "data"
    crashed = sync_process(config, data, "--bodies", crash_at=crash_at)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    conn = open_store(data)
    try:
        inbox = read.folder(conn, folder_id(conn, "INBOX"))
        assert inbox is not None
        stored = inbox.total
        with_bodies = conn.execute("SELECT count(*) FROM bodies").fetchone()[0]
    finally:
        conn.close()
    # Whole batches only: the first page and one of HEADER_BATCH; every header (the folder's
    # state not yet); every header and three batches of bodies.
    expected = {
        "imap.headers_committed:2": (FIRST_PAGE + HEADER_BATCH, 0),
        "imap.folder_synced": (LARGE, 0),
        "imap.bodies_committed:3": (LARGE, 3 * BODY_BATCH),
    }
    assert (stored, with_bodies) == expected[crash_at]
    done = sync_process(config, data, "--bodies")
    assert done.returncode == 0, done.stderr
    assert_converged(box, data, bodies=True)
