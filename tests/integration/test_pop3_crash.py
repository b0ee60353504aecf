"""Crash the POP3 download at every named step, or cut its connection, then run it again.

The promise: every message that was on the server is still there or in the store, never neither;
none is stored twice; with delete-after-download the server ends empty and the store holds every
message byte-exact. The crashing run is a real process (`python -m tuimail fetch`) killed
with `os._exit` at the step; the second run is an ordinary one.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.pop3_download import (
    download,
    imap_messages,
    make_message,
    pop3_account,
    pop3_uidls,
    stored,
)
from tests.support.proxy import Faults
from tuimail.core.crashpoint import CRASH_EXIT_CODE, ENV_VAR, KNOWN_CRASHPOINTS
from tuimail.sync.events import SyncFailed
from tuimail.sync.pop3.download import (
    BATCH_MESSAGES,
    FOLDER_NAME,
    PIPELINE_DEPTH,
    WRITER_MESSAGES,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 5


def write_config(
    servers: MailServers, user: str, path: Path, *, leave_on_server: bool, port: int | None = None
) -> Path:
    command = "printf '%s\\n' " + shlex.quote(servers.users[user])
    path.write_text(
        f"""
[accounts.home]
address = "{servers.address(user)}"
ca_file = {json.dumps(str(servers.ca_file))}
password_command = {json.dumps(command)}

[accounts.home.pop3]
host = "{servers.host}"
port = {port or servers.pop3s_port}
username = "{user}"
leave_on_server = {"true" if leave_on_server else "false"}
"""
    )
    return path


def run_fetch(
    config: Path, data_dir: Path, *, crash_at: str | None = None, named: bool = True
) -> subprocess.CompletedProcess[str]:
    """`tuimail fetch` in a process of its own: of the account "home" (`named`), else of every
    POP3 account."""
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    env["PYTHONPATH"] = str(ROOT)
    if crash_at is not None:
        env[ENV_VAR] = crash_at
    common = ["--config", str(config), "--data-dir", str(data_dir)]
    command = [sys.executable, "-m", "tuimail", *common, "fetch", *(["home"] if named else [])]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def assert_nothing_lost_or_doubled(
    servers: MailServers, user: str, data_dir: Path, originals: list[bytes]
) -> tuple[list[bytes], list[bytes]]:
    """Every original is on the server or in the store; none stored twice. Returns both."""
    on_server = imap_messages(servers, user)
    rows = stored(data_dir)
    in_store = [raw for _, raw in rows]
    assert len({uidl for uidl, _ in rows}) == len(rows), "a UIDL stored twice"
    assert len(set(in_store)) == len(in_store), "a message stored twice"
    for raw in originals:
        assert raw in on_server or raw in in_store, "a message is neither on the server nor here"
    assert set(in_store) <= set(originals)
    return on_server, in_store


CASES = [
    ("pop3.mid_retr", True),
    ("pop3.mid_retr:3", False),
    ("pop3.before_commit", True),
    ("pop3.before_commit", False),
    ("pop3.after_commit", True),
    ("pop3.after_commit", False),
    ("pop3.after_dele", False),
    ("pop3.after_dele:3", False),
]


def case_ids(cases: list[tuple[str, bool]]) -> list[str]:
    """A test id per (crash step, leave on server) case."""
    return [f"{step}-{'leave' if leave else 'delete'}" for step, leave in cases]


def fetch_that_crashes(
    mail_servers: MailServers, user: str, tmp_path: Path, crash_at: str, *, leave_on_server: bool
) -> tuple[list[bytes], Path, Path]:
    """A first `tuimail fetch` of `user`'s maildrop that crashes at `crash_at`: what the server
    held before it (the originals), the config and the data directory."""
    originals = imap_messages(mail_servers, user)
    config = write_config(
        mail_servers, user, tmp_path / "config.toml", leave_on_server=leave_on_server
    )
    data_dir = tmp_path / "data"
    crashed = run_fetch(config, data_dir, crash_at=crash_at)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    return originals, config, data_dir


@pytest.mark.parametrize(("crash_at", "leave_on_server"), CASES, ids=case_ids(CASES))
def test_a_crash_at_every_step_converges(
    mail_servers: MailServers, tmp_path: Path, crash_at: str, leave_on_server: bool
) -> None:
    assert crash_at.split(":")[0] in KNOWN_CRASHPOINTS
    user = mail_servers.add_user("crash")
    for index in range(1, MESSAGES + 1):
        mail_servers.deliver(user, make_message(index))
    originals, config, data_dir = fetch_that_crashes(
        mail_servers, user, tmp_path, crash_at, leave_on_server=leave_on_server
    )
    assert_nothing_lost_or_doubled(mail_servers, user, data_dir, originals)
    # A crash before QUIT deletes nothing on the server.
    assert len(imap_messages(mail_servers, user)) == MESSAGES

    again = run_fetch(config, data_dir)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("home: ")
    on_server, in_store = assert_nothing_lost_or_doubled(mail_servers, user, data_dir, originals)
    assert sorted(in_store) == sorted(originals)
    if leave_on_server:
        assert sorted(on_server) == sorted(originals)
    else:
        assert on_server == []
    # A third run has nothing left to do.
    third = run_fetch(config, data_dir)
    assert third.returncode == 0 and "no new messages" in third.stdout


@pytest.mark.parametrize("leave_on_server", [True, False], ids=["leave", "delete"])
def test_a_connection_cut_mid_retr_converges(
    mail_servers: MailServers, tmp_path: Path, fault_proxy, leave_on_server: bool
) -> None:
    user = mail_servers.add_user("cut")
    # Large enough that the cut lands inside a RETR answer, after the login and the UIDL list.
    body = "".join(f"line {n} of a longer message body\r\n" for n in range(600))
    for index in range(1, 4):
        mail_servers.deliver(user, make_message(index, body=body))
    originals = imap_messages(mail_servers, user)
    proxy = fault_proxy(
        mail_servers.host, mail_servers.pop3s_port, server=Faults(close_after=50_000)
    )
    account = pop3_account(
        mail_servers,
        user,
        host=proxy.host,
        port=proxy.port,
        leave_on_server=leave_on_server,
    )

    result, events = download(mail_servers, user, tmp_path, account)

    assert not result.ok
    assert proxy.connections[0].cut
    failed = events.of(SyncFailed)
    assert [event.kind for event in failed] == ["network"], failed
    where = f"{proxy.host}:{proxy.port}"
    assert f"the connection failed during the download from {where}" in failed[0].message
    assert 0 < result.new < 3  # what was read in full before the cut was kept
    assert len(stored(tmp_path)) == result.new
    assert len(imap_messages(mail_servers, user)) == 3  # no QUIT: no DELE took effect
    assert_nothing_lost_or_doubled(mail_servers, user, tmp_path, originals)

    result, _ = download(
        mail_servers,
        user,
        tmp_path,
        pop3_account(mail_servers, user, leave_on_server=leave_on_server),
    )
    assert result.ok, result.error
    on_server, in_store = assert_nothing_lost_or_doubled(mail_servers, user, tmp_path, originals)
    assert sorted(in_store) == sorted(originals)
    if leave_on_server:
        assert sorted(on_server) == sorted(originals)
    else:
        assert on_server == [] and pop3_uidls(mail_servers, user) == []


def test_tuimail_fetch_then_export_gives_back_every_message(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("cli")
    for index in range(1, 4):
        mail_servers.deliver(user, make_message(index))
    originals = imap_messages(mail_servers, user)
    config = write_config(mail_servers, user, tmp_path / "config.toml", leave_on_server=False)
    data_dir = tmp_path / "data"

    fetched = run_fetch(config, data_dir, named=False)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == "home: first download: 3 messages, 3 deleted on the server\n"

    maildir = tmp_path / "exported"
    exported = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuimail",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "export",
            f"home/{FOLDER_NAME}",
            "--maildir",
            str(maildir),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    files = sorted(path.read_bytes() for path in (maildir / "cur").iterdir())
    assert files == sorted(originals)


def test_a_second_fetch_process_is_skipped_while_one_runs(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    """A fetch that runs makes another one skip the account ("busy, skipped", exit status 0:
    a cron run that meets the app's download has nothing to do and did not fail)."""
    user = mail_servers.add_user("lock")
    mail_servers.deliver(user, make_message(1))
    config = write_config(mail_servers, user, tmp_path / "config.toml", leave_on_server=True)
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    env["PYTHONPATH"] = str(ROOT)
    # A process that holds the lock the way a running fetch does, until told to stop.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from tuimail.store.lock import AccountLock;"
            f"lock = AccountLock({str(data_dir)!r}, 'home', 'pop3'); lock.acquire();"
            "print('held', flush=True); sys.stdin.readline()",
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        skipped = run_fetch(config, data_dir)
        assert skipped.returncode == 0, skipped.stderr
        assert "home: busy, skipped" in skipped.stdout
        assert f"is being synced by process {holder.pid}" in skipped.stdout
        assert stored(data_dir) == []
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert run_fetch(config, data_dir).returncode == 0
    assert len(stored(data_dir)) == 1


# A download of this many new messages is stored by a writer process (download.WRITER_MESSAGES):
# its crash points are reached there, and the download must end as one process would.
LARGE = 1100
WRITER_CASES = [
    ("pop3.before_commit:2", False),
    ("pop3.after_commit:3", False),
    ("pop3.after_commit:2", True),
    ("pop3.after_dele:250", False),
]


@pytest.mark.parametrize(("crash_at", "leave_on_server"), WRITER_CASES, ids=case_ids(WRITER_CASES))
def test_a_crash_in_a_large_download_converges(
    mail_servers: MailServers, tmp_path: Path, crash_at: str, leave_on_server: bool
) -> None:
    assert LARGE >= WRITER_MESSAGES
    user = mail_servers.add_user("bigcrash")
    mail_servers.deliver_many(user, (make_message(index) for index in range(1, LARGE + 1)))
    originals, config, data_dir = fetch_that_crashes(
        mail_servers, user, tmp_path, crash_at, leave_on_server=leave_on_server
    )
    _, in_store = assert_nothing_lost_or_doubled(mail_servers, user, data_dir, originals)
    # Whole batches only (each holds BATCH_MESSAGES, and the answers that were in flight when
    # it filled), and nothing deleted on the server without its QUIT.
    batches = {"pop3.before_commit:2": 1, "pop3.after_commit:3": 3, "pop3.after_commit:2": 2}
    if crash_at in batches:
        whole = batches[crash_at]
        assert whole * BATCH_MESSAGES <= len(in_store) <= whole * (BATCH_MESSAGES + PIPELINE_DEPTH)
    assert len(imap_messages(mail_servers, user)) == LARGE

    again = run_fetch(config, data_dir)
    assert again.returncode == 0, again.stderr
    on_server, in_store = assert_nothing_lost_or_doubled(mail_servers, user, data_dir, originals)
    assert sorted(in_store) == sorted(originals)
    assert len(on_server) == (LARGE if leave_on_server else 0)
