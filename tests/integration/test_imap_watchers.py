"""The live session on a server with IDLE but no NOTIFY (the real Dovecot with NOTIFY left out of
its capabilities by `imap_capability`): the account's `notify_folders` other than INBOX get a
connection each, up to the bound, that IDLEs on the folder; new mail there reaches the store by
that IDLE alone (the STATUS round is set an hour apart), the folders past the bound stay in the
STATUS round, and every extra connection ends with the session. With NOTIFY, one connection.
"""

from __future__ import annotations

import logging
import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import imapclient.exceptions
import pytest

from tests.support.ca import CertificateAuthority
from tests.support.dovecot import DOVEADM, DovecotServer, start_dovecot
from tests.support.imap_sync import (
    FaultProxyFactory,
    Mailbox,
    ReducedDovecot,
    Server,
    append,
    commands_sent,
    folder_id,
    message,
    proxied,
    server_view,
    store_view,
)
from tests.support.mailservers import discard_server_directory, new_server_directory
from tests.support.proxy import FaultProxy
from tuimail.store.db import open_store
from tuimail.sync.events import ConnectionBack, Event, NewMail, SyncFinished
from tuimail.sync.imap.live import LiveSession
from tuimail.sync.imap.watchers import MAX_WATCHERS

pytestmark = pytest.mark.integration

WAIT = 30.0  # a bound on waiting for an event, not a measurement
HOUR = 3600.0  # the STATUS round's interval where only an IDLE may bring the news
LISTS = ["Lists/a", "Lists/b", "Lists/c", "Lists/d", "Lists/e", "Lists/f"]
# Lists/f first: the bound takes the folders in the patterns' order, then the folder list's.
PATTERNS = ("INBOX", "Lists/f", "Lists/*")
WATCHED = ["Lists/f", "Lists/a", "Lists/b", "Lists/c"]
POLLED = ("Lists/d", "Lists/e")


class Running:
    """A live session of `box`'s account, watching `PATTERNS`, in its own thread."""

    def __init__(self, box: Mailbox, data_dir: Path, **options: float) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.cancel = threading.Event()
        account = replace(box.account(), notify_folders=PATTERNS)
        self.session = LiveSession(
            account, data_dir, emit=self.events.put, cancel=self.cancel, **options
        )
        self.thread = threading.Thread(target=self.session.run, daemon=True)
        self.thread.start()

    def wait_for(self, kind: type, predicate: Callable[[Event], bool] = lambda e: True) -> Event:
        while True:
            event = self.events.get(timeout=WAIT)
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


@pytest.fixture
def no_notify(reduced_dovecot: ReducedDovecot) -> Server:
    server: Server = reduced_dovecot(without={"NOTIFY"})
    return server


def with_lists(server: Server, fault_proxy: FaultProxyFactory) -> tuple[Mailbox, FaultProxy]:
    """A fresh mailbox with the folders `LISTS` and `Other`, one message each, through a
    recording proxy."""
    box, proxy = proxied(server, fault_proxy)
    with box.device() as device:
        for name in [*LISTS, "Other"]:
            device.create_folder(name)
    for name in [*LISTS, "Other"]:
        append(box, 1, folder=name)
    return box, proxy


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("imap-watch-")]


def status_asked(proxy: FaultProxy, after: int = 0) -> list[str]:
    """The folders the session's own connection asked the STATUS of (past `after` bytes)."""
    sent = bytes(proxy.connections[0].from_client[after:]).decode("utf-8", "replace")
    return re.findall(r'^\S+ STATUS "?([^"\s]+)"? ', sent, re.MULTILINE)


def test_new_mail_in_a_notify_folder_comes_by_its_own_idle(
    no_notify: Server,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mail appended to a folder of `notify_folders` is stored while the STATUS round is an
    hour away: the folder's own connection IDLEs there. Six folders match: four connections
    more, no more, in the patterns' order; the other two are named in the log as asked by
    STATUS."""
    box, proxy = with_lists(no_notify, fault_proxy)
    caplog.set_level(logging.INFO, logger="tuimail.sync.imap.watchers")
    watch = Running(box, tmp_path, status_interval=HOUR)
    running.append(watch)
    watch.wait_for(SyncFinished)
    lists = _count(proxy, "LIST")
    session = watch.session
    wait_until(lambda: len(session.watchers.watching()) == MAX_WATCHERS, "the folders watched")
    assert _count(proxy, "NOTIFY") == 0
    conn = open_store(tmp_path)
    try:
        watched = {folder_id(conn, name) for name in WATCHED}
        assert session.watchers.watching() == watched
        assert session.watchers.polled == POLLED
        assert "Lists/d, Lists/e by STATUS" in caplog.text
        for name in ("Lists/b", "Lists/f"):
            append(box, 1, folder=name, start=10)
            arrived = folder_id(conn, name)
            news = watch.wait_for(NewMail, lambda e, f=arrived: e.folder_id == f)  # type: ignore[attr-defined]
            assert isinstance(news, NewMail) and news.count == 1
            assert store_view(conn, name) == server_view(box, name)
    finally:
        conn.close()
    assert len(proxy.connections) == 1 + MAX_WATCHERS, "one connection per watched folder"
    assert _count(proxy, "LIST") == lists, "no pass over the account for the news"
    watch.stop()
    assert not watcher_threads(), "the watchers end with the session"
    for connection in proxy.connections:
        assert connection.closed.wait(WAIT), "every connection ends with the session"


def test_the_watched_folders_leave_the_status_round(
    no_notify: Server, fault_proxy: FaultProxyFactory, running: list[Running], tmp_path: Path
) -> None:
    """The STATUS round asks the folders no connection IDLEs on: the two past the bound and
    `Other`, not the four that are watched."""
    box, proxy = with_lists(no_notify, fault_proxy)
    watch = Running(box, tmp_path, status_interval=0.2)
    running.append(watch)
    watch.wait_for(SyncFinished)
    session = watch.session
    wait_until(lambda: len(session.watchers.watching()) == MAX_WATCHERS, "the folders watched")
    mark = len(proxy.connections[0].from_client)
    wait_until(lambda: status_asked(proxy, mark).count("Other") >= 2, "two STATUS rounds")
    asked = set(status_asked(proxy, mark))
    assert asked & set(LISTS) == set(POLLED) and "Other" in asked
    watch.stop()


def test_with_notify_one_connection_watches_every_folder(
    mail_servers: Server, fault_proxy: FaultProxyFactory, running: list[Running], tmp_path: Path
) -> None:
    box, proxy = with_lists(mail_servers, fault_proxy)
    watch = Running(box, tmp_path, status_interval=HOUR)
    running.append(watch)
    watch.wait_for(SyncFinished)
    append(box, 1, folder="Lists/e", start=10)
    conn = open_store(tmp_path)
    try:
        arrived = folder_id(conn, "Lists/e")
        news = watch.wait_for(NewMail, lambda e: e.folder_id == arrived)  # type: ignore[attr-defined]
        assert isinstance(news, NewMail) and news.count == 1
    finally:
        conn.close()
    watch.stop()
    assert _count(proxy, "NOTIFY") == 1
    assert len(proxy.connections) == 1 and not watch.session.watchers.watching()


def test_the_watchers_reconnect_after_the_server_drops_them(
    no_notify: Server, fault_proxy: FaultProxyFactory, running: list[Running], tmp_path: Path
) -> None:
    """The server ends every connection of the user (`doveadm kick`): the session and its
    watchers connect again, and new mail in a watched folder still comes by its IDLE."""
    box, proxy = with_lists(no_notify, fault_proxy)
    watch = Running(box, tmp_path, status_interval=HOUR, backoff_start=0.2)
    running.append(watch)
    watch.wait_for(SyncFinished)
    session = watch.session
    # The session too waits for news: its pass and the bodies it downloads after are done.
    wait_until(
        lambda: session.watching and len(session.watchers.watching()) == MAX_WATCHERS,
        "the folders watched",
    )
    no_notify.doveadm("kick", box.user)  # type: ignore[attr-defined]
    watch.wait_for(ConnectionBack)
    watch.wait_for(SyncFinished)  # the pass of the session's new connection
    wait_until(lambda: len(proxy.connections) >= 2 * (1 + MAX_WATCHERS), "the reconnects")
    wait_until(lambda: len(session.watchers.watching()) == MAX_WATCHERS, "the folders watched")
    append(box, 1, folder="Lists/a", start=10)
    conn = open_store(tmp_path)
    try:
        arrived = folder_id(conn, "Lists/a")
        watch.wait_for(NewMail, lambda e: e.folder_id == arrived)  # type: ignore[attr-defined]
        assert store_view(conn, "Lists/a") == server_view(box, "Lists/a")
    finally:
        conn.close()
    watch.stop()


@pytest.fixture
def at_most_one(test_ca: CertificateAuthority) -> Iterator[DovecotServer]:
    """A Dovecot without NOTIFY of its own, whose connections per user and address are set to
    one once the test's folders are made (`limit`)."""
    directory = new_server_directory("tuimail-dovecot-one-")
    server = start_dovecot(directory, without={"NOTIFY"}, ca=test_ca)
    try:
        yield server
    finally:
        server.stop()
        discard_server_directory(directory)


def limit(server: DovecotServer, box: Mailbox, connections: int) -> None:
    """Allow each user `connections` IMAP connections from one address (a reload), and wait
    until the limit is in force: a reload is done in the background, and the server counts a
    connection that logged out until its process has ended."""
    config = server.config_file.read_text()
    setting = f"protocol imap {{\n  mail_max_userip_connections = {connections}\n"
    server.config_file.write_text(config.replace("protocol imap {\n", setting, 1))
    reloads = server.log().count("SIGHUP received")
    server.doveadm("reload")
    wait_until(lambda: server.log().count("SIGHUP received") > reloads, "the reload")
    wait_until(lambda: _refused_past(box, connections), "the limit in force")
    wait_until(lambda: box.user not in server.doveadm("who", box.user), "no connection left")


def _refused_past(box: Mailbox, connections: int) -> bool:
    """Whether a login past `connections` connections of `box`'s user (straight to the server)
    is refused."""
    with ExitStack() as stack:
        for _ in range(connections):
            stack.enter_context(box.device())
        try:
            stack.enter_context(box.device())
        except imapclient.exceptions.LoginError as exc:
            return "Maximum number of connections" in str(exc)
    return False


def test_watchers_refused_by_the_servers_limit_leave_their_folders_to_status(
    at_most_one: DovecotServer,
    fault_proxy: FaultProxyFactory,
    running: list[Running],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One connection per user: the session's. The refused logins of the watchers end them,
    not the session, and their folders are asked by STATUS: new mail there still comes. (One,
    not more: the server counts a connection once it is logged in, so watchers logging in at
    the same moment may each pass a higher limit, and none be refused.)"""
    box, proxy = with_lists(at_most_one, fault_proxy)
    limit(at_most_one, box, 1)
    caplog.set_level(logging.INFO, logger="tuimail.sync.imap.watchers")
    watch = Running(box, tmp_path, status_interval=0.2)
    running.append(watch)
    watch.wait_for(SyncFinished)
    session = watch.session
    wait_until(
        lambda: caplog.text.count("no connection of its own") == MAX_WATCHERS,
        "every watcher refused",
    )
    assert not session.watchers.watching()
    # Each in a STATUS round (the folder the session has selected is asked by NOOP instead: the
    # last one it downloaded bodies in, until it selects INBOX to IDLE there).
    wait_until(lambda: set(WATCHED) <= set(status_asked(proxy)), "their folders by STATUS")
    conn = open_store(tmp_path)
    try:
        refused = WATCHED[1]
        # Delivered without a connection of the user's (doveadm): the limit is reached.
        subprocess.run(
            [DOVEADM, "-c", str(at_most_one.config_file), "save", "-u", box.user, "-m", refused],
            input=message(10),
            check=True,
            timeout=60,
        )
        arrived = folder_id(conn, refused)
        news = watch.wait_for(NewMail, lambda e: e.folder_id == arrived)  # type: ignore[attr-defined]
        assert isinstance(news, NewMail) and news.count == 1
    finally:
        conn.close()
    assert watch.thread.is_alive(), "the session goes on"
    assert "Maximum number of connections" in caplog.text
    watch.stop()


def _count(proxy: FaultProxy, command: str) -> int:
    """Commands named `command` the client sent through the proxy, on every connection."""
    pattern = re.compile(rf"^\S+ (UID )?{command}\b", re.IGNORECASE)
    return sum(1 for line in commands_sent(proxy) if pattern.match(line))
