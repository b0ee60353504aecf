"""An account's live session against the real Dovecot: new mail by NOTIFY, by IDLE and by
polling, a dropped connection survived, and `cancel` honoured. Waits are on events with generous
bounds.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.imap_sync import (
    FaultProxyFactory,
    Mailbox,
    Server,
    append,
    commands_sent,
    folder_id,
    new_mailbox,
    proxied,
    server_view,
    store_view,
)
from tests.support.proxy import FaultProxy, Faults, hide_capability
from tuimail.config.schema import AccountConfig, BodyPolicy
from tuimail.core.model import Protocol
from tuimail.store import ops, read
from tuimail.store.db import open_store
from tuimail.sync.events import (
    BodyNotFetched,
    Event,
    NewMail,
    Reconnecting,
    StoreChanged,
    SyncFailed,
    SyncFinished,
)
from tuimail.sync.imap.live import LiveSession

pytestmark = pytest.mark.integration

WAIT = 30.0  # a bound on waiting for an event, not a measurement


class Running:
    """A live session in its own thread, its events in a queue."""

    def __init__(self, box: Mailbox | AccountConfig, data_dir: Path, **options: float) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.cancel = threading.Event()
        account = box.account() if isinstance(box, Mailbox) else box
        self.session = LiveSession(
            account, data_dir, emit=self.events.put, cancel=self.cancel, **options
        )
        self.thread = threading.Thread(target=self.session.run, daemon=True)
        self.seen: list[Event] = []

    def wait_for(self, kind: type, predicate=lambda event: True) -> Event:  # type: ignore[no-untyped-def]
        while True:
            event = self.events.get(timeout=WAIT)
            self.seen.append(event)
            if isinstance(event, kind) and predicate(event):
                return event

    def stop(self) -> None:
        self.cancel.set()
        self.thread.join(timeout=WAIT)
        assert not self.thread.is_alive(), "the session ends soon after cancel is set"


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for item in started:
        item.cancel.set()
        item.thread.join(timeout=WAIT)


def start(started: list[Running], box: Mailbox, data_dir: Path, **options: float) -> Running:
    item = Running(box, data_dir, **options)
    started.append(item)
    item.thread.start()
    return item


def start_account(
    started: list[Running], account: AccountConfig, data_dir: Path, **options: float
) -> Running:
    item = Running(account, data_dir, **options)
    started.append(item)
    item.thread.start()
    return item


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
def test_mail_from_another_client_arrives_while_watching(
    idle: bool,
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
) -> None:
    # Without IDLE: the proxy renames it in every CAPABILITY the server sends.
    faults = Faults() if idle else Faults(rewrite_line=hide_capability("IDLE"))
    box, proxy = proxied(mail_servers, fault_proxy, server=faults)
    append(box, 2)
    watch = start(running, box, tmp_path, poll_interval=0.5, idle_renew=0.3)
    watch.wait_for(SyncFinished)
    if idle:  # IDLE is renewed (here every 0.3 s; servers drop it after 29 minutes)
        deadline = time.monotonic() + WAIT
        while proxy.from_client.upper().count(b" IDLE\r\n") < 3:
            assert time.monotonic() < deadline, "IDLE was not renewed"
            time.sleep(0.05)
    conn = open_store(tmp_path)
    try:
        assert len(store_view(conn)) == 2
        inbox = folder_id(conn, "INBOX")
        append(box, 1, start=10)
        news = watch.wait_for(NewMail)
        assert isinstance(news, NewMail) and news.folder_id == inbox and news.count == 1
        assert store_view(conn) == server_view(box)
        watch.stop()
    finally:
        conn.close()
    assert any(isinstance(event, StoreChanged) for event in watch.seen)
    if not idle:
        assert b" IDLE\r\n" not in proxy.from_client.upper(), "no IDLE where it is not offered"


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_dropped_connection_is_survived(
    reset: bool,
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    faults = Faults()
    proxy.server = faults
    append(box, 1)
    watch = start(running, box, tmp_path, backoff_start=0.2)
    watch.wait_for(SyncFinished)
    # The session idles on the first connection: its pass and the download of bodies after it
    # are done, and the server said "+ idling" last (on a loaded machine the download may still
    # run, and the cut would meet its FETCH: the reconnect's pass could then come before the
    # mail below, and find none).
    first = proxy.connections[0]
    wait_until(
        lambda: watch.session.watching and first.to_client.endswith(b"+ idling\r\n"),
        "the session idling",
    )
    # The proxy reads its faults for every chunk, so this cuts that connection at the next byte
    # from the server; later connections get none.
    faults.close_after = 0
    faults.reset = reset
    proxy.server = Faults()
    append(box, 1, start=10)  # the server's EXISTS is what meets the cut

    failed = watch.wait_for(SyncFailed)
    assert isinstance(failed, SyncFailed) and failed.kind == "network"
    assert failed.protocol is Protocol.IMAP
    watch.wait_for(SyncFinished)
    assert len(proxy.connections) >= 2 and proxy.connections[0].cut
    conn = open_store(tmp_path)
    try:
        assert store_view(conn) == server_view(box)
        assert len(store_view(conn)) == 2
    finally:
        conn.close()
    # Back in IDLE on the new connection: more mail still arrives.
    append(box, 1, start=20)
    watch.wait_for(NewMail)
    watch.stop()


def test_an_unreachable_server_is_retried_until_cancelled(
    mail_servers: Server, running: list[Running], tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    attempts: list[int] = []

    def refuse() -> object:
        attempts.append(1)
        raise ConnectionRefusedError("connection refused")

    watch = Running(box, tmp_path, backoff_start=0.05, network_backoff_max=0.1)
    watch.session.connect = refuse  # type: ignore[assignment]
    running.append(watch)
    watch.thread.start()
    # The first failure is reported; the retries say so in the status bar, not as new errors.
    event = watch.wait_for(SyncFailed)
    assert isinstance(event, SyncFailed) and event.kind == "network"
    for _ in range(3):
        retry = watch.wait_for(Reconnecting)
        assert isinstance(retry, Reconnecting) and retry.seconds <= 0.1
        assert "connection refused" in retry.reason
    watch.stop()
    assert len(attempts) >= 3
    assert sum(isinstance(event, SyncFailed) for event in watch.seen) == 1


def test_mail_arriving_between_the_resync_and_idle_is_not_missed(
    mail_servers: Server, running: list[Running], tmp_path: Path
) -> None:
    """A message delivered after the resync read the folder and before IDLE starts is already
    counted when IDLE begins, so IDLE need not announce it: the session sees it by UIDNEXT (or
    by what NOTIFY said meanwhile)."""
    box = new_mailbox(mail_servers)
    append(box, 1)
    watch = Running(box, tmp_path, idle_renew=600)
    running.append(watch)
    resync = watch.session._sync_folder
    delivered = threading.Event()

    def resync_then_mail_arrives(engine, folder):  # type: ignore[no-untyped-def]
        result = resync(engine, folder)
        if not delivered.is_set():
            delivered.set()
            append(box, 1, start=20)
        return result

    watch.session._sync_folder = resync_then_mail_arrives  # type: ignore[method-assign]
    watch.thread.start()
    news = watch.wait_for(NewMail)
    assert delivered.is_set()
    assert isinstance(news, NewMail) and news.count == 1
    conn = open_store(tmp_path)
    try:
        assert store_view(conn) == server_view(box)
    finally:
        conn.close()


def test_without_idle_mail_counted_by_a_jobs_select_is_not_missed(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
) -> None:
    """Without IDLE the selected folder is asked by NOOP, which tells only what changed since
    the connection last heard of it. A message delivered just before the download of bodies
    selects INBOX is counted by that SELECT, not by the NOOP: the session sees it by UIDNEXT."""
    box, _ = proxied(mail_servers, fault_proxy, server=Faults(rewrite_line=hide_capability("IDLE")))
    append(box, 2)
    watch = Running(box, tmp_path, poll_interval=0.3)
    running.append(watch)
    bodies = watch.session._bodies
    delivered = threading.Event()

    def mail_arrives_then_bodies(engine):  # type: ignore[no-untyped-def]
        if not delivered.is_set():
            delivered.set()
            append(box, 1, start=20)
        return bodies(engine)

    watch.session._bodies = mail_arrives_then_bodies  # type: ignore[method-assign]
    watch.thread.start()
    news = watch.wait_for(NewMail)
    assert delivered.is_set()
    assert isinstance(news, NewMail) and news.count == 1
    conn = open_store(tmp_path)
    try:
        assert store_view(conn) == server_view(box)
    finally:
        conn.close()


def test_news_the_server_sends_before_idle_begins_is_taken(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
) -> None:
    """A server may send an untagged response at any time: NOTIFY's STATUS of another folder
    that changed can come between IDLE and the server's "+". It is news, not a refusal of
    IDLE: that folder is resynced, on the one connection, and no error is shown."""
    told = threading.Event()

    def mail_arrives_before_the_continuation(line: bytes) -> bytes:
        if told.is_set() or not line.startswith(b"+ idling"):
            return line
        told.set()
        append(box, 1, folder="Archive", start=30)  # straight to the server
        return b'* STATUS "Archive" (MESSAGES 1)\r\n' + line

    box, proxy = proxied(
        mail_servers, fault_proxy, server=Faults(rewrite_line=mail_arrives_before_the_continuation)
    )
    append(box, 1)
    watch = start(running, box, tmp_path)
    conn = open_store(tmp_path)
    try:
        watch.wait_for(SyncFinished)
        archive = folder_id(conn, "Archive")
        news = watch.wait_for(NewMail, lambda e: e.folder_id == archive)
        assert told.is_set() and isinstance(news, NewMail) and news.count == 1
        assert store_view(conn, "Archive") == server_view(box, "Archive")
    finally:
        conn.close()
    assert not [e for e in watch.seen if isinstance(e, SyncFailed)], "no error to show"
    assert len(proxy.connections) == 1 and logins(proxy) == 1
    watch.stop()


def wait_until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def logins(proxy: FaultProxy) -> int:
    """LOGIN and AUTHENTICATE commands the client sent through the proxy."""
    return sum(
        1
        for line in commands_sent(proxy)
        if re.match(r"^\S+ (LOGIN|AUTHENTICATE) ", line, re.IGNORECASE)
    )


def test_ten_opens_a_flag_and_a_move_use_one_login(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
) -> None:
    """The bodies the user opens, and the user's actions, go over the one connection the
    session keeps: one login for all of it, and no folder list per action."""
    box, proxy = proxied(mail_servers, fault_proxy)
    append(box, 12)
    account = box.account()
    assert account.incoming is not None
    on_demand = replace(account.incoming, bodies=BodyPolicy(keep="none"))
    watch = start_account(running, replace(account, incoming=on_demand), tmp_path)
    watch.wait_for(SyncFinished)
    conn = open_store(tmp_path)
    try:
        inbox = folder_id(conn, "INBOX")
        archive = folder_id(conn, "Archive")
        ids = read.message_ids(conn, inbox)
        assert len(ids) == 12 and not any(read.body(conn, m) for m in ids)
        lists_before = _count(proxy, "LIST")
        for message_id in ids[:10]:
            watch.session.open_body(message_id)
            wait_until(lambda m=message_id: read.body(conn, m) is not None, "a body")
        flagged, moved = ids[10], ids[11]
        flagged_uid = read.row(conn, flagged).uid  # type: ignore[union-attr]
        ops.enqueue(conn, ops.OpKind.FLAG, [flagged], flag="\\Flagged")
        watch.session.replay()
        ops.enqueue(conn, ops.OpKind.MOVE, [moved], to_folder_id=archive)
        watch.session.replay()
        wait_until(lambda: ops.count_pending(conn) == 0, "the actions replayed")
    finally:
        conn.close()
    assert "\\Flagged" in server_view(box)[flagged_uid][0]
    assert len(server_view(box, "Archive")) == 1 and len(server_view(box)) == 11
    watch.stop()
    assert len(proxy.connections) == 1, "one connection for the whole session"
    assert logins(proxy) == 1
    assert _count(proxy, "LIST") == lists_before, "no folder list per action"


@pytest.mark.parametrize("notify", [True, False], ids=["notify", "idle-and-status"])
def test_new_mail_in_another_folder_arrives_without_a_pass(
    notify: bool,
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
) -> None:
    """Mail delivered to a folder other than INBOX is in the store soon, with no pass over the
    account (no LIST): by NOTIFY where the server has it, else by STATUS between IDLEs."""
    faults = Faults() if notify else Faults(rewrite_line=hide_capability("NOTIFY"))
    box, proxy = proxied(mail_servers, fault_proxy, server=faults)
    with box.device() as device:
        device.create_folder("Lists/dev")
    append(box, 1, folder="Lists/dev")
    watch = start(running, box, tmp_path, status_interval=0.5)
    watch.wait_for(SyncFinished)
    lists = _count(proxy, "LIST")
    notify_sent = _count(proxy, "NOTIFY")
    assert notify_sent == (1 if notify else 0)
    append(box, 1, folder="Lists/dev", start=10)
    conn = open_store(tmp_path)
    try:
        dev = folder_id(conn, "Lists/dev")
        news = watch.wait_for(NewMail, lambda event: event.folder_id == dev)
        assert isinstance(news, NewMail) and news.count == 1
        assert store_view(conn, "Lists/dev") == server_view(box, "Lists/dev")
    finally:
        conn.close()
    watch.stop()
    assert _count(proxy, "LIST") == lists, "no pass over the account for news"
    if not notify:
        assert _count(proxy, "STATUS") >= 1


def test_a_message_opened_while_the_server_is_away_says_why(
    mail_servers: Server, running: list[Running], tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    attempts: list[int] = []

    def refuse() -> object:
        attempts.append(1)
        raise ConnectionRefusedError("connection refused")

    watch = Running(box, tmp_path, backoff_start=30, network_backoff_max=30)
    watch.session.connect = refuse  # type: ignore[assignment]
    watch.session.get_mail()  # waiting, as the app's first pass does: it does not end the wait
    running.append(watch)
    watch.thread.start()
    watch.wait_for(Reconnecting)
    time.sleep(0.5)
    assert len(attempts) == 1, "a job that waited already does not cut the backoff short"
    started = time.monotonic()
    watch.session.open_body(42)
    failed = watch.wait_for(BodyNotFetched)
    # Opening ends the 30 s wait: the reconnect is tried at once, and its failure is told.
    assert time.monotonic() - started < 20
    assert isinstance(failed, BodyNotFetched) and failed.message_id == 42
    assert "connection refused" in failed.reason and not failed.gone
    assert len(attempts) == 2


def _count(proxy: FaultProxy, command: str) -> int:
    """Commands named `command` the client sent through the proxy."""
    pattern = re.compile(rf"^\S+ (UID )?{command}\b", re.IGNORECASE)
    return sum(1 for line in commands_sent(proxy) if pattern.match(line))


class HeldAnswer:
    """Proxy hooks that hold the server's answer to an IDLE until the client has sent the
    commands expected behind it (or 5 s have passed), and note whether it had: a client that
    waits for that answer before sending them cannot have sent them."""

    HOLD = 5.0  # a bound on holding the answer, not a measurement

    def __init__(self, expected: list[re.Pattern[bytes]]) -> None:
        self.expected = expected
        self.armed = False
        self.sent: list[bytes] = []  # the client's lines since armed
        self.in_time: list[bool] = []  # per IDLE answer held: were they all sent meanwhile?
        self._changed = threading.Condition()

    def _all_sent(self) -> bool:
        return all(any(p.search(line) for line in self.sent) for p in self.expected)

    def client(self, line: bytes) -> bytes:
        with self._changed:
            if self.armed:
                self.sent.append(line)
                self._changed.notify_all()
        return line

    def server(self, line: bytes) -> bytes:
        if self.armed and re.match(rb"^\S+ OK Idle completed", line):
            with self._changed:
                self.in_time.append(self._changed.wait_for(self._all_sent, timeout=self.HOLD))
                self.armed = False
        return line


def test_news_of_another_folder_is_resynced_without_waiting_for_idle_or_select(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
) -> None:
    """Told of new mail in another folder, the session ends the IDLE and sends the folder's
    EXAMINE, its identity check and its search for new mail at once, one round trip for all
    (a server far away costs each round trip again): the server's answer to the IDLE is held
    here until they have all been sent."""
    held = HeldAnswer(
        [
            re.compile(rb"^DONE\r?\n?$"),
            re.compile(rb'^\S+ EXAMINE "?Lists/dev"? \(QRESYNC'),
            re.compile(
                rb"^\S+ UID FETCH \S+ \(UID RFC822\.SIZE BODY\.PEEK\[HEADER\.FIELDS \(MESSAGE-ID"
            ),
            re.compile(rb"^\S+ UID SEARCH UID \d+:\* UNDELETED"),
        ]
    )
    box, _ = proxied(
        mail_servers,
        fault_proxy,
        client=Faults(rewrite_line=held.client),
        server=Faults(rewrite_line=held.server),
    )
    with box.device() as device:
        device.create_folder("Lists/dev")
    append(box, 2, folder="Lists/dev")
    account = box.account()
    assert account.incoming is not None
    # The proxy reads lines only where they are not compressed.
    plain = replace(account.incoming, compress=False, bodies=BodyPolicy(keep="none"))
    watch = start_account(running, replace(account, incoming=plain), tmp_path)
    watch.wait_for(SyncFinished)
    wait_until(lambda: watch.session.watching, "the session watching for news")
    with held._changed:
        held.armed = True
    append(box, 1, folder="Lists/dev", start=10)
    conn = open_store(tmp_path)
    try:
        dev = folder_id(conn, "Lists/dev")
        news = watch.wait_for(NewMail, lambda event: event.folder_id == dev)
        assert isinstance(news, NewMail) and news.count == 1
        assert store_view(conn, "Lists/dev") == server_view(box, "Lists/dev")
    finally:
        conn.close()
    watch.stop()
    assert held.in_time == [True], (
        "DONE, the EXAMINE, the identity FETCH and the SEARCH were not all sent before the "
        f"IDLE's answer: {held.sent!r}"
    )


def test_news_of_the_folder_left_behind_an_idle_is_not_taken_for_the_next_ones(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
) -> None:
    """What the server says of the folder the IDLE watched, after the session sent DONE and
    before the IDLE's answer, comes before the next folder's EXAMINE answer: it is news of the
    folder left (resynced after), never the count of the next one."""
    injected: list[bytes] = []
    armed = threading.Event()

    def server(line: bytes) -> bytes:
        if armed.is_set() and re.match(rb"^\S+ OK Idle completed", line):
            armed.clear()
            injected.append(line)
            return b"* 99 EXISTS\r\n" + line  # as if mail came to the folder left
        return line

    box, proxy = proxied(mail_servers, fault_proxy, server=Faults(rewrite_line=server))
    with box.device() as device:
        device.create_folder("Lists/dev")
    append(box, 2, folder="Lists/dev")
    account = box.account()
    assert account.incoming is not None
    plain = replace(account.incoming, compress=False, bodies=BodyPolicy(keep="none"))
    watch = start_account(running, replace(account, incoming=plain), tmp_path)
    watch.wait_for(SyncFinished)
    wait_until(lambda: watch.session.watching, "the session watching for news")
    sent_before = len(commands_sent(proxy))
    examined = [
        line for line in commands_sent(proxy) if re.match(r"^\S+ EXAMINE ", line, re.IGNORECASE)
    ]
    left = re.sub(r'^\S+ EXAMINE "?([^"(]*?)"? \(.*$', r"\1", examined[-1]).strip()
    assert left != "Lists/dev"
    armed.set()
    append(box, 1, folder="Lists/dev", start=10)
    conn = open_store(tmp_path)
    try:
        dev = folder_id(conn, "Lists/dev")
        news = watch.wait_for(NewMail, lambda event: event.folder_id == dev)
        assert isinstance(news, NewMail) and news.count == 1
        assert injected, "the IDLE was ended"
        # The folder left is examined again for its news, after Lists/dev's.
        wait_until(
            lambda: any(
                re.match(rf'^\S+ EXAMINE "?{re.escape(left)}"? ', line)
                for line in commands_sent(proxy)[sent_before:]
            ),
            f"a resync of {left}, the folder the news was about",
        )
        assert store_view(conn, "Lists/dev") == server_view(box, "Lists/dev")
        assert store_view(conn, left) == server_view(box, left)
        assert read.folder(conn, dev).total == 3  # type: ignore[union-attr]
    finally:
        conn.close()
    watch.stop()


def test_news_of_a_folder_told_during_a_job_survives_the_next_select(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
) -> None:
    """NOTIFY's STATUS of a folder can come with the answer to any command of a job; the job's
    next SELECT must not drop it with the folder's old responses: the folder is resynced."""
    armed = threading.Event()

    def server(line: bytes) -> bytes:
        if armed.is_set() and re.match(rb"^\S+ OK \[READ-ONLY\] Examine completed", line):
            armed.clear()
            # As NOTIFY tells of mail in Lists/dev (its numbers differ from the store's).
            return b'* STATUS "Lists/dev" (MESSAGES 9 UIDNEXT 99 UIDVALIDITY 1)\r\n' + line
        return line

    box, proxy = proxied(mail_servers, fault_proxy, server=Faults(rewrite_line=server))
    with box.device() as device:
        device.create_folder("Lists/dev")
    append(box, 2, folder="Lists/dev")
    account = box.account()
    assert account.incoming is not None
    plain = replace(account.incoming, compress=False, bodies=BodyPolicy(keep="none"))
    watch = start_account(running, replace(account, incoming=plain), tmp_path)
    watch.wait_for(SyncFinished)
    wait_until(lambda: watch.session.watching, "the session watching for news")

    def examined_dev() -> int:
        return sum(
            1 for line in commands_sent(proxy) if re.match(r'^\S+ EXAMINE "?Lists/dev', line)
        )

    before = examined_dev()
    armed.set()
    watch.session.get_mail()  # a pass: a SELECT of every folder, one after another
    watch.wait_for(SyncFinished)
    assert not armed.is_set(), "the STATUS was told"
    # Once by the pass, once more for the news told during it.
    wait_until(lambda: examined_dev() >= before + 2, "a resync of Lists/dev for its news")
    watch.stop()
