"""The inbox watcher against the real Dovecot: new mail by IDLE and by polling, a dropped
connection survived, and `cancel` honoured. Waits are on events with generous bounds.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.imap_sync import (
    FaultProxyFactory,
    Mailbox,
    Server,
    append,
    folder_id,
    new_mailbox,
    proxied,
    server_view,
    store_view,
)
from tests.support.proxy import Faults, hide_capability
from tuimail.core.model import Protocol
from tuimail.store.db import open_store
from tuimail.sync.events import Event, NewMail, StoreChanged, SyncFailed, SyncFinished
from tuimail.sync.imap.idle import ImapIdleWatcher

pytestmark = pytest.mark.integration

WAIT = 30.0  # a bound on waiting for an event, not a measurement


class Running:
    """A watcher in its own thread, its events in a queue."""

    def __init__(self, box: Mailbox, data_dir: Path, **options: float) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.cancel = threading.Event()
        account = box.account()
        self.watcher = ImapIdleWatcher(
            account, data_dir, emit=self.events.put, cancel=self.cancel, **options
        )
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
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
        assert not self.thread.is_alive(), "the watcher ends soon after cancel is set"


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
    # The watcher idles on the first connection. The proxy reads its faults for every chunk, so
    # this cuts that connection at the next byte from the server; later connections get none.
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

    watch = Running(box, tmp_path, backoff_start=0.05, backoff_max=0.1)
    watch.watcher.connect = refuse  # type: ignore[assignment]
    running.append(watch)
    watch.thread.start()
    for _ in range(3):
        event = watch.wait_for(SyncFailed)
        assert isinstance(event, SyncFailed) and event.kind == "network"
    watch.stop()
    assert len(attempts) >= 3


def test_mail_arriving_between_the_resync_and_idle_is_not_missed(
    mail_servers: Server, running: list[Running], tmp_path: Path
) -> None:
    """A message delivered after the resync read the folder and before IDLE starts is already
    counted when IDLE begins, so IDLE never announces it: the watcher sees it by UIDNEXT."""
    box = new_mailbox(mail_servers)
    append(box, 1)
    watch = Running(box, tmp_path, idle_renew=600)
    running.append(watch)
    resync = watch.watcher._resync
    delivered = threading.Event()

    def resync_then_mail_arrives(engine, folder):  # type: ignore[no-untyped-def]
        result = resync(engine, folder)
        if not delivered.is_set():
            delivered.set()
            append(box, 1, start=20)
        return result

    watch.watcher._resync = resync_then_mail_arrives  # type: ignore[method-assign]
    watch.thread.start()
    news = watch.wait_for(NewMail)
    assert delivered.is_set()
    assert isinstance(news, NewMail) and news.count == 1
    conn = open_store(tmp_path)
    try:
        assert store_view(conn) == server_view(box)
    finally:
        conn.close()
