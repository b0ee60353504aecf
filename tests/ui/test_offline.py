"""The app offline (`tuimail --offline`: no workers) on an IMAP account's store.

The account's IMAP and SMTP servers point at a loopback socket that listens and counts the
connections it accepts: everything below is done from the store alone, and the count stays 0.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.support.demo_app import DemoStore
from tests.support.pilot import searched
from tuimail.app.application import TuimailApp
from tuimail.app.demo import DEMO_ACCOUNT, demo_config
from tuimail.config.load import parse_config
from tuimail.config.schema import Config
from tuimail.core.model import FLAGGED, SEEN, FolderRole, Protocol
from tuimail.store import ops, outbox, read
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, update_folder_state, upsert_folder
from tuimail.ui.messages import AccountState
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SUBJECTS = ["Budget for the winter", "Train tickets", "Lunch on Friday"]


class CountingListener:
    """A loopback TCP socket that accepts connections, counts them and closes them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close() would not)
        self.sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    server = CountingListener()
    yield server
    server.close()


def _config(port: int) -> Config:
    return parse_config(f"""
[accounts.work]
address = "you@work.invalid"
display_name = "You"
[accounts.work.imap]
host = "127.0.0.1"
port = {port}
security = "none"
[accounts.work.smtp]
host = "127.0.0.1"
port = {port}
security = "none"
""")


def _message(index: int, subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Sender {index} <sender{index}@example.org>"
    message["To"] = "You <you@work.invalid>"
    message["Subject"] = subject
    message["Date"] = format_datetime(NOW - timedelta(hours=index + 1))
    message["Message-ID"] = f"<offline-{index}@example.org>"
    message.set_content(f"Message number {index} about {subject.lower()}.\n")
    return message.as_bytes()


def _build_store(data_dir: Path) -> None:
    """An IMAP account as a sync leaves it: INBOX with three messages (UIDs), an empty Trash."""
    conn = open_store(data_dir)
    try:
        account = ensure_account(conn, "work", Protocol.IMAP)
        inbox = upsert_folder(conn, account, "INBOX", delimiter="/", role=FolderRole.INBOX)
        trash = upsert_folder(conn, account, "Trash", delimiter="/", role=FolderRole.TRASH)
        for folder in (inbox, trash):
            update_folder_state(conn, folder, uidvalidity=7, uidnext=10)
        batch = [
            IncomingMessage(raw=_message(i, subject), uid=i + 1)
            for i, subject in enumerate(SUBJECTS)
        ]
        store_messages(conn, inbox, batch)
    finally:
        conn.close()


@pytest.fixture
def app(tmp_path: Path, listener: CountingListener) -> TuimailApp:
    _build_store(tmp_path)
    return TuimailApp(_config(listener.port), tmp_path, clock=lambda: NOW, offline=True)


def _folder(app: TuimailApp, name: str) -> read.FolderInfo:
    return next(f for f in read.folders(app.conn) if f.name == name)


def _status(app: TuimailApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


def _notices(app: TuimailApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_status_says_offline_and_get_mail_says_why(
    app: TuimailApp, listener: CountingListener
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(StatusBar)
        assert bar.entry("work") == (AccountState.IDLE, "offline")
        assert "work: offline" in _status(app)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert any("Offline" in text and "--offline" in text for text in _notices(app))
        assert bar.entry("work") == (AccountState.IDLE, "offline")
    assert listener.accepted == 0


async def test_read_search_flag_move_delete_queue_ops(
    app: TuimailApp, listener: CountingListener
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        assert len(messages.ids) == 3
        first = messages.current_message_id
        assert first is not None

        await pilot.press("enter")  # read: the body is in the store
        await pilot.pause()
        body = str(app.screen.query_one("#view-body").render())
        assert "Message number 0 about budget for the winter." in body
        row = read.row(app.conn, first)
        assert row is not None and SEEN in row.flags

        messages.focus()
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"tickets", "enter")
        await searched(pilot)
        assert [messages.row_at(i).envelope.subject for i in range(len(messages.ids))] == [
            "Train tickets"
        ]
        tickets = messages.current_message_id
        assert tickets is not None
        await pilot.press("escape")
        await pilot.pause()
        assert len(messages.ids) == 3

        await pilot.press("F")  # flag the first message
        await pilot.pause()
        row = read.row(app.conn, first)
        assert row is not None and FLAGGED in row.flags

        await pilot.press("d")  # move to Trash
        await pilot.pause()
        assert first not in messages.ids
        assert len(messages.ids) == 2
        trash = _folder(app, "Trash")
        assert trash.total == 1
        moved = read.row(app.conn, first)
        assert moved is not None and moved.folder_id == trash.id

        account = read.account_id(app.conn, "work")
        assert account is not None
        kinds = [op.kind for op in ops.pending(app.conn, account)]
        assert kinds == [ops.OpKind.SEEN, ops.OpKind.FLAG, ops.OpKind.MOVE]
        assert "3 pending" in _status(app)

        # In the Trash, delete is for good (after a yes): one more op, and the Trash is empty.
        folders = app.screen.query_one("#folders")
        folders.focus()
        labels = [str(folders.get_option_at_index(i).prompt) for i in range(folders.option_count)]
        folders.highlighted = next(i for i, label in enumerate(labels) if "Trash" in label)
        await pilot.pause()
        messages.focus()
        assert messages.ids == [first]
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert messages.ids == []
        assert [op.kind for op in ops.pending(app.conn, account)][-1] is ops.OpKind.DELETE
        assert "4 pending" in _status(app)
    assert listener.accepted == 0


async def test_compose_and_send_queue_in_the_outbox(
    app: TuimailApp, listener: CountingListener
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        app.screen.query_one("#to").value = "ann@example.org"
        app.screen.query_one("#subject").value = "Written on a train"
        app.screen.query_one("#body").load_text("No network here.\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        (item,) = outbox.items(app.conn)
        assert item.state is outbox.OutboxState.QUEUED
        assert item.env_rcpts == ("ann@example.org",)
        assert any("will be sent when tuimail runs online" in text for text in _notices(app))
        assert "outbox 1" in _status(app)

        # A refused message sent again from the outbox is queued again, and the app says it
        # waits instead of connecting.
        outbox.begin_sending(app.conn, item.id)
        outbox.mark_failed(app.conn, item.id, "550 refused")
        app.clear_notifications()
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert outbox.items(app.conn)[0].state is outbox.OutboxState.QUEUED
        assert any("will be sent when tuimail runs online" in text for text in _notices(app))
    assert listener.accepted == 0


async def test_a_body_not_in_the_store_says_it_comes_online(
    tmp_path: Path, listener: CountingListener
) -> None:
    _build_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
        header = b"From: a@example.org\r\nSubject: Only the header\r\n\r\n"
        when = NOW - timedelta(minutes=5)
        store_messages(
            conn, inbox.id, [IncomingMessage(header_bytes=header, uid=9, internaldate=when)]
        )
    finally:
        conn.close()
    app = TuimailApp(_config(listener.port), tmp_path, clock=lambda: NOW, offline=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        assert messages.row_at(0).envelope.subject == "Only the header"
        await pilot.press("enter")
        await pilot.pause()
        body = str(app.screen.query_one("#view-body").render())
        assert "offline" in body and "Downloading" not in body
    assert listener.accepted == 0


async def test_the_demo_says_nothing_about_going_online(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, offline=True, demo=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert app.screen.query_one(StatusBar).entry(DEMO_ACCOUNT) is None  # a local account
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert _notices(app) == ["No account with a mail server is configured."]
        await pilot.press("c")
        await pilot.pause()
        app.screen.query_one("#to").value = "ann@example.org"
        app.screen.query_one("#body").load_text("Hello.\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert outbox.items(app.conn)[0].state is outbox.OutboxState.QUEUED
        assert "Queued in the outbox; the demo never sends it (o: outbox)." in _notices(app)
        assert not any("online" in text for text in _notices(app))


async def test_find_settings_in_the_setup_screen_looks_nothing_up(
    app: TuimailApp, listener: CountingListener
) -> None:
    from textual.widgets import Input, Static

    from tuimail.ui.screens.setup import AccountSetupScreen

    async with app.run_test(size=(120, 50)) as pilot:
        app.action_add_account()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AccountSetupScreen)
        screen.query_one("#address", Input).value = "someone@example.com"
        screen.query_one("#address", Input).focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        report = str(screen.query_one("#report", Static).render())
        assert "Offline: nothing is looked up" in report
    assert listener.accepted == 0


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every attempt of this process to reach the network (a connect, a datagram, a name
    lookup), whichever module makes it; the attempts go ahead, counted."""
    seen: list[str] = []

    def counting(name: str, real):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(name)
            return real(*args, **kwargs)

        return wrapper

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, counting(name, getattr(socket.socket, name)))
    monkeypatch.setattr(socket, "getaddrinfo", counting("getaddrinfo", socket.getaddrinfo))
    return seen


async def test_every_screen_used_offline_makes_no_connection(
    tmp_path: Path, listener: CountingListener, attempts: list[str]
) -> None:
    from textual.widgets import Button, Input, Select, Static

    from tuimail.ui.screens.outbox import OutboxScreen
    from tuimail.ui.screens.setup import AccountSetupScreen

    _build_store(tmp_path)
    conn = open_store(tmp_path)
    try:  # a message whose body is not here yet (only its header was synced)
        inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
        header = b"From: a@example.org\r\nSubject: Only the header\r\n\r\n"
        when = NOW - timedelta(minutes=5)
        store_messages(
            conn, inbox.id, [IncomingMessage(header_bytes=header, uid=9, internaldate=when)]
        )
    finally:
        conn.close()
    app = TuimailApp(_config(listener.port), tmp_path, clock=lambda: NOW, offline=True)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+r")  # get mail
        await pilot.pause()
        assert any(t.startswith("Offline: nothing is fetched") for t in _notices(app))

        messages = app.screen.query_one(MessageList)
        assert messages.row_at(0).envelope.subject == "Only the header"
        await pilot.press("enter")  # open the message without a body
        await pilot.pause()
        assert "offline" in str(app.screen.query_one("#view-body").render())
        messages.focus()
        for key in ("ctrl+f", "f", "r"):  # forward (whole, inline), reply: need its bytes
            app.clear_notifications()
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, MainScreen)
            assert any(t.startswith("Offline: nothing is downloaded") for t in _notices(app))

        await pilot.press("c")  # a draft, saved
        await pilot.pause()
        app.screen.query_one("#to").value = "ann@example.org"
        app.screen.query_one("#body").load_text("Draft on a train.\n")
        app.clear_notifications()
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert any("drafts stay on this computer" in t for t in _notices(app))
        await pilot.press("ctrl+s")  # ... and sent
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        (item,) = outbox.items(app.conn)
        outbox.begin_sending(app.conn, item.id)
        outbox.mark_failed(app.conn, item.id, "550 refused")
        app.clear_notifications()
        await pilot.press("o", "r")  # the outbox: send again
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        assert any("will be sent when tuimail runs online" in t for t in _notices(app))
        await pilot.press("escape")
        await pilot.pause()

        app.action_add_account()  # the setup screen: check the connection, find settings
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AccountSetupScreen)
        screen.query_one("#auth", Select).value = "password"  # whether or not a keyring is here
        await pilot.pause()
        for field, value in (
            ("name", "new"),
            ("address", "someone@example.com"),
            ("in_host", "127.0.0.1"),
            ("in_port", str(listener.port)),
            ("password", "secret"),
        ):
            screen.query_one(f"#{field}", Input).value = value
        screen.query_one("#check", Button).press()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        report = str(screen.query_one("#report", Static).render())
        assert report.startswith("Offline: nothing is checked")
        screen.query_one("#find", Button).press()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        report = str(screen.query_one("#report", Static).render())
        assert "Offline: nothing is looked up" in report
    assert listener.accepted == 0
    assert attempts == []
