"""The POP3 download engine against the real Dovecot: exact bytes, order, policies, lock, TLS.

Each test takes a fresh Dovecot user, delivers its own messages over LMTP and downloads them
into a fresh data directory. What the store holds is compared with what Dovecot returns over
IMAP for the same messages (an independent reading of the same mailbox).
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.pop3_download import (
    Recorder,
    deliver_all,
    download,
    imap_messages,
    make_message,
    pop3_account,
    pop3_uidls,
    stored,
)
from tests.support.proxy import Faults, hide_capability
from tuimail.core.model import Security
from tuimail.store import read, write
from tuimail.store.db import open_store
from tuimail.store.indexer import complete_index
from tuimail.store.lock import AccountLock
from tuimail.store.search import search
from tuimail.sync.events import (
    AuthNeeded,
    Event,
    NewMail,
    StoreChanged,
    SyncFailed,
    SyncFinished,
    SyncProgress,
    SyncStarted,
)
from tuimail.sync.pop3 import download as pop3_download_module
from tuimail.sync.pop3.fetch import Pop3Download

pytestmark = pytest.mark.integration


# --- helpers shared with the other POP3 integration tests


# --- tests


@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
def test_downloads_every_message_byte_exact_newest_first(
    mail_servers: MailServers, tmp_path: Path, security: Security
) -> None:
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 6)])
    account = pop3_account(mail_servers, user, security=security)

    result, events = download(mail_servers, user, tmp_path, account)

    assert result.ok, result.error
    assert (result.new, result.known, result.deleted) == (5, 0, 0)
    on_server = imap_messages(mail_servers, user)
    assert len(on_server) == 5
    rows = stored(tmp_path)
    # Newest first: the last delivered message was stored first.
    assert [raw for _, raw in rows] == list(reversed(on_server))
    assert sorted(uidl for uidl, _ in rows) == sorted(pop3_uidls(mail_servers, user))
    assert result.bytes == sum(len(raw) for raw in on_server)

    conn = open_store(tmp_path)
    try:
        account_id = read.account_id(conn, "home")
        assert account_id is not None
        inbox = read.find_folder(conn, account_id, "INBOX")
        assert inbox is not None and inbox.total == 5
        assert inbox.last_sync is not None and inbox.last_error is None
        ids = read.message_ids(conn, inbox.id)
        subjects = {row.envelope.subject for row in read.rows(conn, ids)}
        assert subjects == {f"Report number {i}" for i in range(1, 6)}
        # The bodies are stored first; their words are found once the index is completed
        # (`tuimail fetch` does it before it returns, the app behind).
        assert search(conn, "zebra3", account_id=account_id) == []
        assert complete_index(conn) == 5
        found = search(conn, "zebra3", account_id=account_id)
        assert [row.envelope.subject for row in read.rows(conn, found)] == ["Report number 3"]
    finally:
        conn.close()

    kinds = [type(event) for event in events.events]
    assert kinds[0] is SyncStarted and kinds[-1] is SyncFinished
    assert events.of(SyncFinished)[0].summary == "first download: 5 messages"
    # The maildrop's first download: all of it counts as new, but none of it is news.
    assert events.of(NewMail) == [NewMail("home", inbox.id, 5, first=True)]
    assert events.of(StoreChanged)
    progress = events.of(SyncProgress)
    assert progress[-1].done == progress[-1].total == 5


def test_second_run_downloads_nothing_in_one_uidl_round_trip(
    mail_servers: MailServers, tmp_path: Path, fault_proxy
) -> None:
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 4)])
    assert download(mail_servers, user, tmp_path)[0].new == 3

    proxy = fault_proxy(mail_servers.host, mail_servers.pop3_port)
    account = pop3_account(
        mail_servers, user, security=Security.STARTTLS, host=proxy.host, port=proxy.port
    )
    # The proxy sees only the plaintext part of STLS; the server log names the commands.
    result, events = download(mail_servers, user, tmp_path, account)
    assert result.ok, result.error
    assert (result.new, result.known) == (0, 3)
    assert events.of(SyncFinished)[0].summary == "no new messages"
    assert not events.of(NewMail)
    assert len(proxy.connections) == 1  # one session
    assert len(stored(tmp_path)) == 3

    # New mail arrives: the next run takes only that.
    mail_servers.deliver(user, make_message(4))
    result, _ = download(mail_servers, user, tmp_path)
    assert (result.new, result.known) == (1, 3)
    assert [raw for _, raw in stored(tmp_path)][-1] == imap_messages(mail_servers, user)[-1]


def test_second_run_sends_only_capa_login_uidl_quit(
    mail_servers: MailServers, tmp_path: Path, fault_proxy
) -> None:
    """Over security "none" on the plain host the whole conversation is visible to the proxy."""
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 3)])
    proxy = fault_proxy(mail_servers.plain_host, mail_servers.pop3_port)
    account = pop3_account(
        mail_servers, user, security=Security.NONE, host=proxy.host, port=proxy.port
    )
    assert download(mail_servers, user, tmp_path, account)[0].new == 2
    first = bytes(proxy.connections[0].from_client)
    assert first.count(b"RETR ") == 2

    download(mail_servers, user, tmp_path, account)
    commands = [line.split(b" ")[0] for line in proxy.connections[1].from_client.splitlines()]
    assert commands == [b"CAPA", b"AUTH", b"UIDL", b"QUIT"]


def test_leave_on_server_keeps_everything(mail_servers: MailServers, tmp_path: Path) -> None:
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 4)])
    result, _ = download(mail_servers, user, tmp_path)
    assert (result.new, result.deleted) == (3, 0)
    assert len(pop3_uidls(mail_servers, user)) == 3


def test_delete_after_download_empties_the_server(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 5)])
    on_server = imap_messages(mail_servers, user)
    account = pop3_account(mail_servers, user, leave_on_server=False)

    result, events = download(mail_servers, user, tmp_path, account)

    assert (result.new, result.deleted) == (4, 4)
    assert events.of(SyncFinished)[0].summary == (
        "first download: 4 messages, 4 deleted on the server"
    )
    assert pop3_uidls(mail_servers, user) == []
    assert sorted(raw for _, raw in stored(tmp_path)) == sorted(on_server)


def test_a_message_the_server_will_not_give_is_skipped_named_and_fetched_later(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    """RETR of one message answers -ERR (its file is unreadable to Dovecot): the others are
    stored and deleted, that one stays on the server, the summary and the folder's sync health
    name it, and the next pass, once it is readable, gets it."""
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 4)])
    on_server = imap_messages(mail_servers, user)
    account = pop3_account(mail_servers, user, leave_on_server=False)
    mail_servers.make_unreadable(user, b"zebra2.")

    for _ in range(2):  # run after run: the others are not held up by it
        result, events = download(mail_servers, user, tmp_path, account)
        assert result.ok and len(result.unreadable) == 1
        assert sorted(raw for _, raw in stored(tmp_path)) == sorted(
            raw for raw in on_server if b"zebra2." not in raw
        )
        assert len(pop3_uidls(mail_servers, user)) == 1
        [summary] = [event.summary for event in events.of(SyncFinished)]
        assert "1 message the server would not give, skipped and tried again next time" in summary
        conn = open_store(tmp_path)
        try:
            [folder] = read.folders(conn, read.account_id(conn, "home"))
            assert folder.last_error is not None and "would not give" in folder.last_error
        finally:
            conn.close()

    mail_servers.make_unreadable(user, b"zebra2.", readable=True)
    result, events = download(mail_servers, user, tmp_path, account)
    assert result.ok and (result.new, result.deleted, result.unreadable) == (1, 1, ())
    assert sorted(raw for _, raw in stored(tmp_path)) == sorted(on_server)
    assert pop3_uidls(mail_servers, user) == []
    conn = open_store(tmp_path)
    try:
        [folder] = read.folders(conn, read.account_id(conn, "home"))
        assert folder.last_error is None
    finally:
        conn.close()


def test_delete_after_days_uses_the_first_seen_time(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 3)])
    account = pop3_account(mail_servers, user, delete_after_days=10)
    start = datetime(2026, 11, 1, tzinfo=UTC)

    # Day 0: both downloaded, nothing deleted (they were just seen).
    result, _ = download(mail_servers, user, tmp_path, account, now=lambda: start)
    assert (result.new, result.deleted) == (2, 0)
    # Day 5: a third arrives; still nothing old enough.
    mail_servers.deliver(user, make_message(3))
    day5 = start + timedelta(days=5)
    result, _ = download(mail_servers, user, tmp_path, account, now=lambda: day5)
    assert (result.new, result.deleted) == (1, 0)
    assert len(pop3_uidls(mail_servers, user)) == 3
    # Day 11: the first two are older than 10 days, the third is not.
    day11 = start + timedelta(days=11)
    result, _ = download(mail_servers, user, tmp_path, account, now=lambda: day11)
    assert (result.new, result.deleted) == (0, 2)
    remaining = pop3_uidls(mail_servers, user)
    assert len(remaining) == 1
    third_uidl = next(uidl for uidl, raw in stored(tmp_path) if b"Report number 3" in raw)
    assert remaining == [third_uidl]
    assert len(stored(tmp_path)) == 3


def test_deleting_locally_never_deletes_on_the_server(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 4)])
    download(mail_servers, user, tmp_path)
    conn = open_store(tmp_path)
    try:
        account_id = read.account_id(conn, "home")
        assert account_id is not None
        inbox = read.find_folder(conn, account_id, "INBOX")
        assert inbox is not None
        write.delete_folder(conn, inbox.id)  # every local copy gone
    finally:
        conn.close()

    result, _ = download(mail_servers, user, tmp_path)

    assert result.ok and (result.new, result.deleted) == (0, 0)
    assert len(pop3_uidls(mail_servers, user)) == 3
    assert stored(tmp_path) == []  # known by UIDL: not downloaded again either


def test_a_long_line_downloads_fine(mail_servers: MailServers, tmp_path: Path) -> None:
    user = mail_servers.add_user("pop")
    long_line = "x" * 5000 + " end-of-long-line"
    mail_servers.deliver(user, make_message(1, body=f"{long_line}\r\n"))
    result, _ = download(mail_servers, user, tmp_path)
    assert result.ok, result.error
    assert [raw for _, raw in stored(tmp_path)] == imap_messages(mail_servers, user)
    assert long_line.encode() in stored(tmp_path)[0][1]


def test_missing_stls_fails_before_credentials_and_records_the_error(
    mail_servers: MailServers, tmp_path: Path, fault_proxy
) -> None:
    user = mail_servers.add_user("pop")
    proxy = fault_proxy(
        mail_servers.host,
        mail_servers.pop3_port,
        server=Faults(rewrite_line=hide_capability("STLS")),
    )
    account = pop3_account(
        mail_servers, user, security=Security.STARTTLS, host=proxy.host, port=proxy.port
    )
    asked: list[int] = []

    def password() -> str:
        asked.append(1)
        return mail_servers.users[user]

    recorder = Recorder()
    result = Pop3Download(account, tmp_path, emit=recorder, password=password, timeout=20).run()

    assert not result.ok and asked == []
    failed = recorder.of(SyncFailed)
    assert len(failed) == 1 and failed[0].kind == "starttls_missing"
    assert b"USER" not in bytes(proxy.from_client) and b"AUTH" not in bytes(proxy.from_client)
    conn = open_store(tmp_path)
    try:
        account_id = read.account_id(conn, "home")
        assert account_id is not None
        inbox = read.find_folder(conn, account_id, "INBOX")
        assert inbox is not None and inbox.last_error == failed[0].message
        assert inbox.last_sync is None
    finally:
        conn.close()

    # The next good run clears the error.
    good = pop3_account(mail_servers, user)
    assert download(mail_servers, user, tmp_path, good)[0].ok
    conn = open_store(tmp_path)
    try:
        assert read.folder(conn, inbox.id).last_error is None  # type: ignore[union-attr]
    finally:
        conn.close()


def test_a_wrong_password_asks_for_authentication(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("pop")
    recorder = Recorder()
    result = Pop3Download(
        pop3_account(mail_servers, user),
        tmp_path,
        emit=recorder,
        password=lambda: "not-the-password",
        timeout=20,
    ).run()
    assert not result.ok
    needed = recorder.of(AuthNeeded)
    assert len(needed) == 1 and "wrong user name or password" in needed[0].message
    assert not recorder.of(SyncFailed)


def test_a_second_fetch_of_the_same_account_fails_naming_the_holder(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("pop")
    mail_servers.deliver(user, make_message(1))
    with AccountLock(tmp_path, "home", "pop3"):
        result, events = download(mail_servers, user, tmp_path)
    assert not result.ok
    failed = events.of(SyncFailed)
    assert len(failed) == 1 and failed[0].kind == "busy"
    assert "is being synced by process" in failed[0].message
    assert str(os.getpid()) in failed[0].message
    assert stored(tmp_path) == []
    # Once the holder is gone, the fetch works.
    assert download(mail_servers, user, tmp_path)[0].new == 1


def test_cancel_stops_between_messages_and_keeps_what_was_stored(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 6)])
    account = pop3_account(mail_servers, user, leave_on_server=False)
    cancel = threading.Event()
    recorder = Recorder()

    def emit(event: Event) -> None:
        recorder(event)
        if isinstance(event, SyncProgress) and event.total and event.done == 0:
            cancel.set()  # before the first message

    result = Pop3Download(
        account,
        tmp_path,
        emit=emit,
        cancel=cancel,
        password=lambda: mail_servers.users[user],
        timeout=20,
    ).run()
    assert result.ok and result.cancelled
    assert (result.new, result.deleted) == (0, 0)
    assert recorder.of(SyncFinished)[0].summary.startswith("stopped early")
    assert len(pop3_uidls(mail_servers, user)) == 5

    # A full run afterwards converges.
    result, _ = download(mail_servers, user, tmp_path, account)
    assert (result.new, result.deleted) == (5, 5)
    assert pop3_uidls(mail_servers, user) == []


def test_a_large_download_stored_by_the_writer_is_the_same_and_deletes_after_commits(
    mail_servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Thresholds made small: 40 messages in batches of 3 go through the writer process, each
    # batch stored while the next is read; DELEs follow each batch's commit.
    monkeypatch.setattr(pop3_download_module, "WRITER_MESSAGES", 10)
    monkeypatch.setattr(pop3_download_module, "BATCH_MESSAGES", 3)
    started: list[object] = []
    real_start = pop3_download_module.start_writer

    def start(conn: object) -> object:
        started.append(writer := real_start(conn))  # type: ignore[arg-type]
        return writer

    monkeypatch.setattr(pop3_download_module, "start_writer", start)
    user = mail_servers.add_user("popbig")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 41)])
    on_server = imap_messages(mail_servers, user)
    account = pop3_account(mail_servers, user, leave_on_server=False)

    result, events = download(mail_servers, user, tmp_path, account)

    assert len(started) == 1 and started[0] is not None
    assert result.ok, result.error
    assert (result.new, result.deleted) == (40, 40)
    assert pop3_uidls(mail_servers, user) == []
    rows = stored(tmp_path)
    assert [raw for _, raw in rows] == list(reversed(on_server))  # newest first, byte-exact
    # A StoreChanged per committed batch (3 messages, and the answers in flight when it filled),
    # each at a later revision.
    revisions = [event.revision for event in events.of(StoreChanged)]
    most = 3 + pop3_download_module.PIPELINE_DEPTH
    assert len(revisions) >= 40 // most and revisions == sorted(revisions)
    assert events.of(SyncFinished)[0].summary == (
        "first download: 40 messages, 40 deleted on the server"
    )
