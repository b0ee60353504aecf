"""Every engine entry point says what failed in the same words and kinds (one error map,
`tuimail.sync.session`): a FETCH the server refuses and a store that cannot be written are
reported as what they are by the live session (a body, a resync) and `tuimail sync`, never as
an internal error; the POP3 download and the outbox sender say a refused command and a store
that cannot be written in the same words as IMAP.

The real Dovecot (and Postfix) serve the mail. A refusal is made by a fault proxy between
tuimail and Dovecot that turns the tagged OK of each FETCH into a NO, or the +OK to a POP3 DELE
into an -ERR (Dovecot refuses neither by itself); a store that cannot be written is one whose
write lock another connection holds for longer than the (shortened) busy timeout.
"""

from __future__ import annotations

import json
import queue
import re
import shlex
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tests.support.proxy import FaultProxy, Faults
from tuimail.app.application import TuimailApp
from tuimail.cli.errors import EXIT_FAILED, EXIT_OK, exit_status
from tuimail.cli.main import main
from tuimail.config.load import load_config
from tuimail.config.schema import AccountConfig, ServerConfig
from tuimail.core.model import Protocol, Security
from tuimail.store import db, read
from tuimail.sync.events import BodyNotFetched, Event, SyncFailed, SyncFinished
from tuimail.sync.imap.live import LiveSession
from tuimail.sync.pop3.fetch import Pop3Download
from tuimail.sync.smtp.flush import OutboxSender
from tuimail.ui.messages import AccountState
from tuimail.ui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.integration

FaultProxyFactory = Callable[..., FaultProxy]
WAIT = 30.0  # a bound on waiting for an event, not a measurement
LOCK_WAIT = 0.5  # seconds: the busy timeout of the store connections below
REFUSAL = b"Fetch refused for now"
_FETCH_DONE = re.compile(rb"^(\S+) OK Fetch completed")
_DELE_DONE = re.compile(rb"^\+OK Marked to be deleted")


def refuse_fetch(line: bytes) -> bytes:
    """The server's line with the tagged OK of a FETCH turned into a NO."""
    match = _FETCH_DONE.match(line)
    return match.group(1) + b" NO " + REFUSAL + b"\r\n" if match else line


def refuse_dele(line: bytes) -> bytes:
    """The server's line with the +OK to a DELE turned into an -ERR."""
    return b"-ERR " + REFUSAL + b"\r\n" if _DELE_DONE.match(line) else line


def _message(number: int) -> bytes:
    return (
        f"From: Sender {number} <sender{number}@tuimail.test>\r\n"
        "To: someone@tuimail.test\r\n"
        f"Subject: message {number}\r\n"
        f"Date: Mon, {number:02d} Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <session-{number}@tuimail.test>\r\n"
        "\r\n"
        f"Body of message {number}.\r\n"
    ).encode()


@dataclass
class Setup:
    """An IMAP account reached through a proxy, synced once (headers only)."""

    proxy: FaultProxy
    config_file: Path
    data: Path

    @property
    def common(self) -> list[str]:
        return ["--config", str(self.config_file), "--data-dir", str(self.data)]

    @property
    def account(self) -> AccountConfig:
        return load_config(self.config_file, must_exist=True).accounts["acct"]

    def body(self, message_id: int) -> bytes | None:
        conn = db.open_store(self.data)
        try:
            return read.body(conn, message_id)
        finally:
            conn.close()

    def first_message(self) -> int:
        conn = db.open_store(self.data)
        try:
            (inbox,) = [f for f in read.folders(conn) if f.name == "INBOX"]
            return read.message_ids(conn, inbox.id)[0]
        finally:
            conn.close()


@pytest.fixture
def synced(mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path) -> Setup:
    user = mail_servers.add_user("session")
    for number in (1, 2):
        mail_servers.deliver(user, _message(number))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    password = shlex.quote(mail_servers.users[user])
    config = tmp_path / "config.toml"
    config.write_text(
        "[accounts.acct]\n"
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        "[accounts.acct.imap]\n"
        f'host = "{proxy.host}"\nport = {proxy.port}\nsecurity = "none"\n'
        f'username = "{user}"\n'
        'bodies = "none"\n'  # headers only: the bodies below are fetched on demand
    )
    setup = Setup(proxy, config, tmp_path / "data")
    assert main(["sync", "acct", *setup.common]) == EXIT_OK
    return setup


class Live:
    """The account's live session in a thread, its events in a queue."""

    def __init__(self, setup: Setup, **options: float) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.cancel = threading.Event()
        self.session = LiveSession(
            setup.account, setup.data, emit=self.events.put, cancel=self.cancel, **options
        )
        self.thread = threading.Thread(target=self.session.run, daemon=True)
        self.seen: list[Event] = []

    def __enter__(self) -> Live:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel.set()
        self.thread.join(timeout=WAIT)
        assert not self.thread.is_alive(), "the session ends soon after cancel is set"

    def wait_for(self, kind: type) -> Event:
        while True:
            event = self.events.get(timeout=WAIT)
            self.seen.append(event)
            if isinstance(event, kind):
                return event

    def wait_until(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)


@pytest.fixture
def store_locked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], Callable[[], None]]]:
    """`store_locked(data_dir)`: another connection holds the store's write lock; returns the
    function that lets go. Store connections opened from now on wait LOCK_WAIT for it."""
    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", LOCK_WAIT)
    holders: list[sqlite3.Connection] = []

    def hold(data_dir: Path) -> Callable[[], None]:
        holder = sqlite3.connect(db.store_path(data_dir), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        holders.append(holder)

        def release() -> None:
            if holder in holders:
                holders.remove(holder)
                holder.execute("ROLLBACK")
                holder.close()

        return release

    yield hold
    for holder in holders:
        holder.close()


# --- a FETCH the server refuses


async def test_a_refused_fetch_of_the_open_message_says_the_server_refused_it(
    synced: Setup,
) -> None:
    synced.proxy.server = Faults(rewrite_line=refuse_fetch)
    app = TuimailApp(load_config(synced.config_file), synced.data, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        body = app.screen.query_one("#view-body", Static)
        await wait_for(pilot, lambda: "Could not download" in str(body.render()))
        text = str(body.render())
        assert "the server refused or garbled a command" in text, text
        assert REFUSAL.decode() in text and "internal error" not in text, text
        # The connection's pass may be under way ("getting mail…"); it ends refused too.
        bar = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: (bar.entry("acct") or (None, ""))[0] is AccountState.ERROR)
        state, status = bar.entry("acct") or (None, "")
        assert state is AccountState.ERROR and REFUSAL.decode() in status, status
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert errors and all("internal error" not in error for error in errors), errors
    assert REFUSAL in bytes(synced.proxy.to_client)


def test_a_refused_fetch_is_a_protocol_failure_of_the_body_download(synced: Setup) -> None:
    synced.proxy.server = Faults(rewrite_line=refuse_fetch)
    message_id = synced.first_message()
    with Live(synced) as live:
        live.session.open_body(message_id)
        failed = live.wait_for(SyncFailed)
        told = live.wait_for(BodyNotFetched)
    assert isinstance(failed, SyncFailed) and isinstance(told, BodyNotFetched)
    assert (failed.kind, failed.protocol) == ("protocol", Protocol.IMAP), live.seen
    assert REFUSAL.decode() in failed.message and not told.gone
    assert told.message_id == message_id and REFUSAL.decode() in told.reason
    assert exit_status(failed.kind) == EXIT_FAILED


def test_a_refused_fetch_fails_tuimail_sync_with_exit_status_1(
    synced: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    synced.proxy.server = Faults(rewrite_line=refuse_fetch)
    capsys.readouterr()
    assert main(["sync", "acct", "--bodies", *synced.common]) == EXIT_FAILED
    err = capsys.readouterr().err
    # The sync goes on with the other folders and names the one whose FETCH was refused.
    failed = "acct: IMAP failed: 5 folders synced, 0 new, 1 failed; INBOX: fetch failed: "
    assert failed + REFUSAL.decode() in err, err
    assert "Traceback" not in err, err


# --- a store that cannot be written


def test_a_locked_store_fails_the_body_download_as_a_locked_store(
    synced: Setup, store_locked: Callable[[Path], Callable[[], None]]
) -> None:
    message_id = synced.first_message()
    release = store_locked(synced.data)
    with Live(synced, backoff_start=0.2) as live:
        live.session.open_body(message_id)
        failed = live.wait_for(SyncFailed)
        assert isinstance(failed, SyncFailed) and failed.kind == "store_locked", live.seen
        assert "locked by another program" in failed.message, failed.message
        told = live.wait_for(BodyNotFetched)
        assert isinstance(told, BodyNotFetched) and "locked by another program" in told.reason
        assert live.thread.is_alive(), "the session goes on after a store failure"
        release()
        live.wait_for(SyncFinished)
        live.session.open_body(message_id)
        live.wait_until(lambda: synced.body(message_id) is not None)


def test_a_locked_store_is_reported_by_the_live_session_which_then_recovers(
    synced: Setup, store_locked: Callable[[Path], Callable[[], None]]
) -> None:
    release = store_locked(synced.data)
    with Live(synced, backoff_start=0.2) as live:
        failed = live.wait_for(SyncFailed)
        assert isinstance(failed, SyncFailed) and failed.kind == "store_locked", failed
        assert "locked by another program" in failed.message, failed.message
        assert live.thread.is_alive(), "the session goes on after a store failure"
        release()
        live.wait_for(SyncFinished)


def test_a_locked_store_fails_tuimail_sync_with_exit_status_1(
    synced: Setup,
    store_locked: Callable[[Path], Callable[[], None]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_locked(synced.data)
    capsys.readouterr()
    assert main(["sync", "acct", *synced.common]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "acct: IMAP failed:" in err and "locked by another program" in err, err


# --- the POP3 download and the outbox sender, in the words of IMAP


def _pop3_account(servers: MailServers, user: str, *, host: str, port: int) -> AccountConfig:
    server = ServerConfig(
        protocol=Protocol.POP3,
        host=host,
        port=port,
        security=Security.NONE,
        username=user,
        leave_on_server=False,
    )
    return AccountConfig(name="pop", address=servers.address(user), incoming=server)


def test_a_refused_pop3_command_is_said_as_a_refused_imap_command(
    mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    user = mail_servers.add_user("sessionpop")
    mail_servers.deliver(user, _message(1))
    proxy = fault_proxy(mail_servers.plain_host, mail_servers.pop3_port)
    proxy.server = Faults(rewrite_line=refuse_dele)
    account = _pop3_account(mail_servers, user, host=proxy.host, port=proxy.port)
    events: list[Event] = []
    password = mail_servers.users[user]
    result = Pop3Download(account, tmp_path, emit=events.append, password=lambda: password).run()
    failed = [event for event in events if isinstance(event, SyncFailed)]
    assert [(f.kind, f.protocol) for f in failed] == [("protocol", Protocol.POP3)], events
    refused = f"the server refused or garbled a command: -ERR {REFUSAL.decode()}"
    assert failed[0].message == refused and result.error == refused, failed
    assert result.new == 1  # what was read in full is kept; nothing was deleted (no QUIT)
    assert b"QUIT" not in bytes(proxy.connections[0].from_client)


def test_a_locked_store_fails_the_pop3_download_in_the_words_of_imap(
    mail_servers: MailServers, tmp_path: Path, store_locked: Callable[[Path], Callable[[], None]]
) -> None:
    user = mail_servers.add_user("sessionpop")
    account = _pop3_account(mail_servers, user, host=mail_servers.plain_host, port=0)
    db.open_store(tmp_path).close()
    release = store_locked(tmp_path)
    events: list[Event] = []
    result = Pop3Download(account, tmp_path, emit=events.append, password=lambda: "").run()
    release()
    failed = [event for event in events if isinstance(event, SyncFailed)]
    assert [(f.kind, f.protocol) for f in failed] == [("store_locked", Protocol.POP3)], events
    locked = f"{db.store_path(tmp_path)}: the store is locked by another program"
    assert failed[0].message.startswith(locked), failed[0].message
    assert result.error == failed[0].message


def test_a_locked_store_fails_the_outbox_sender_in_the_words_of_imap(
    mail_servers: MailServers, tmp_path: Path, store_locked: Callable[[Path], Callable[[], None]]
) -> None:
    user = mail_servers.add_user("sessionsmtp")
    smtp = ServerConfig(
        protocol=Protocol.SMTP,
        host=mail_servers.host,
        port=mail_servers.submission_port,
        security=Security.STARTTLS,
        username=user,
    )
    account = AccountConfig(name="smtp", address=mail_servers.address(user), smtp=smtp)
    db.open_store(tmp_path).close()
    release = store_locked(tmp_path)
    events: list[Event] = []
    result = OutboxSender(account, tmp_path, emit=events.append, password=lambda: "").run()
    release()
    failed = [event for event in events if isinstance(event, SyncFailed)]
    assert [(f.kind, f.protocol) for f in failed] == [("store_locked", Protocol.SMTP)], events
    locked = f"{db.store_path(tmp_path)}: the store is locked by another program"
    assert failed[0].message.startswith(locked), failed[0].message
    assert result.error == failed[0].message
