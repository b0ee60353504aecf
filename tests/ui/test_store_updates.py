"""The store's change notices reach the screen coalesced, and the screen reads again only what
changed: a first sync commits a batch at a time, and each batch must not rebuild the folder pane
nor re-read every message of the folder shown. An engine writes the store with its own
connection, in its own thread, and emits, as the sync does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.screen import Screen
from textual.widgets import OptionList

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.core.model import FLAGGED, Protocol
from tuimail.store import ops, read
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.sync.events import StoreChanged, SyncProgress
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView
from tuimail.ui.widgets.status_bar import StatusBar

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BATCHES = 20


def _message(number: int) -> bytes:
    return (
        f"From: Sender {number} <s{number}@example.org>\r\nTo: you@demo.invalid\r\n"
        f"Subject: Batch {number}\r\nDate: 22 Nov 2026 11:{number:02d}:00 +0000\r\n"
        f"Message-ID: <batch.{number}@example.org>\r\n\r\nHello.\r\n"
    ).encode()


def _inbox(conn) -> read.FolderInfo:
    return next(f for f in read.folders(conn) if f.name == "INBOX")


def _engine(app: TuimailApp, data_dir: Path, changes) -> None:
    """Commit each change and emit after each, as a sync does per batch, all before the UI
    gets a turn (the test's loop waits for the thread)."""

    def work() -> None:
        conn = open_store(data_dir)
        try:
            inbox = _inbox(conn)
            for change in changes:
                change(conn, inbox)
                app.bridge.emit(StoreChanged("demo", (inbox.id,), read.revision(conn)))
        finally:
            conn.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()


class Counts:
    """How often the screen re-read the folder pane and the list's ids, and rebuilt the pane."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder_reads = 0
        self.pane_rebuilds = 0
        self.id_reads = 0
        self.rows_read = 0
        load_folders = MainScreen._load_folders
        clear_options = OptionList.clear_options
        ordered_ids = MessageList._ordered_ids
        rows = read.rows

        def counted_load_folders(screen, *args, **kwargs):
            self.folder_reads += 1
            return load_folders(screen, *args, **kwargs)

        def counted_clear_options(options, *args, **kwargs):
            if options.id == "folders":
                self.pane_rebuilds += 1
            return clear_options(options, *args, **kwargs)

        def counted_ordered_ids(messages, *args, **kwargs):
            self.id_reads += 1
            return ordered_ids(messages, *args, **kwargs)

        def counted_rows(conn, ids):
            self.rows_read += len(ids)
            return rows(conn, ids)

        monkeypatch.setattr(read, "rows", counted_rows)
        monkeypatch.setattr(MainScreen, "_load_folders", counted_load_folders)
        monkeypatch.setattr(OptionList, "clear_options", counted_clear_options)
        monkeypatch.setattr(MessageList, "_ordered_ids", counted_ordered_ids)

    def reset(self) -> None:
        self.folder_reads = self.pane_rebuilds = self.id_reads = self.rows_read = 0


async def _settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()


def _folder_prompt(app: TuimailApp, folder_id: int) -> str:
    folders = app.screen.query_one("#folders", OptionList)
    return str(folders.get_option(str(folder_id)).prompt)


async def test_a_burst_of_committed_batches_is_shown_once_and_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    counts = Counts(monkeypatch)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await _settle(pilot)
        messages = app.screen.query_one(MessageList)
        inbox = _inbox(app.conn)
        assert messages.place == (inbox.id,)
        before = len(messages.ids)
        await pilot.press("j")
        await pilot.pause(0.3)  # the view follows the cursor once it rests
        kept = messages.current_message_id
        counts.reset()

        batches = [
            lambda conn, inbox, n=n: store_message(conn, inbox.id, raw=_message(n))
            for n in range(BATCHES)
        ]
        _engine(app, tmp_path, batches)
        await _settle(pilot)

        assert counts.folder_reads < BATCHES, "every batch re-read the folder pane"
        assert counts.id_reads < BATCHES, "every batch re-read the folder's messages"
        # Rows already read are kept: at most the new messages' rows are read for the screen.
        assert counts.rows_read <= BATCHES, "the rows of unchanged messages were read again"
        # Nothing of the burst is lost: every message is listed, the counts are the last ones.
        assert len(messages.ids) == before + BATCHES
        subjects = {row.envelope.subject for row in read.rows(app.conn, messages.ids)}
        assert {f"Batch {n}" for n in range(BATCHES)} <= subjects
        unread = _inbox(app.conn).unread
        assert _folder_prompt(app, inbox.id).endswith(f" {unread}")
        assert f"{before + BATCHES} messages" in app.screen.sub_title
        assert messages.current_message_id == kept


async def test_flags_changed_elsewhere_redraw_their_rows_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    counts = Counts(monkeypatch)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await _settle(pilot)
        messages = app.screen.query_one(MessageList)
        inbox = _inbox(app.conn)
        chosen = messages.current_message_id
        assert chosen is not None and FLAGGED not in read.row(app.conn, chosen).flags
        counts.reset()

        flag = lambda conn, inbox: ops.enqueue(conn, ops.OpKind.FLAG, [chosen], flag=FLAGGED)  # noqa: E731
        _engine(app, tmp_path, [flag])
        await _settle(pilot)

        assert counts.id_reads == 0, "a flag re-read every message of the folder"
        assert counts.pane_rebuilds == 0, "a flag rebuilt the folder pane"
        assert messages.current_message_id == chosen
        assert "★" in messages.render_line(messages.cursor - round(messages.scroll_offset.y)).text

        # Read elsewhere: the folder's unread count changes in its entry, the pane stays.
        unread_before = _inbox(app.conn).unread
        unread_id = next(r.id for r in read.rows(app.conn, messages.ids) if "\\Seen" not in r.flags)
        seen = lambda conn, inbox: ops.enqueue(conn, ops.OpKind.SEEN, [unread_id])  # noqa: E731
        _engine(app, tmp_path, [seen])
        await _settle(pilot)
        assert counts.pane_rebuilds == 0 and counts.id_reads == 0
        unread = _inbox(app.conn).unread
        assert unread == unread_before - 1
        assert _folder_prompt(app, inbox.id) == "  INBOX" + (f" {unread}" if unread else "")


async def test_the_message_shown_is_shown_again_only_when_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    shown: list[int] = []
    show_message = MessageView.show_message

    def counted_show_message(view, message_id: int) -> None:
        shown.append(message_id)
        show_message(view, message_id)

    monkeypatch.setattr(MessageView, "show_message", counted_show_message)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("j")
        await pilot.pause(0.3)  # the view follows the cursor once it rests
        messages = app.screen.query_one(MessageList)
        chosen = messages.current_message_id
        assert shown[-1] == chosen
        shown.clear()

        # New mail elsewhere in the folder: the view keeps what it shows, nothing re-rendered.
        batches = [
            lambda conn, inbox, n=n: store_message(conn, inbox.id, raw=_message(n))
            for n in range(3)
        ]
        _engine(app, tmp_path, batches)
        await pilot.pause(0.3)
        assert shown == [], "new mail re-rendered the message in the view"
        assert messages.current_message_id == chosen

        # The message shown changes (flagged elsewhere): the view shows it again.
        flag = lambda conn, inbox: ops.enqueue(conn, ops.OpKind.FLAG, [chosen], flag=FLAGGED)  # noqa: E731
        _engine(app, tmp_path, [flag])
        await pilot.pause(0.3)
        assert shown == [chosen]


async def test_sync_progress_repaints_the_status_bar_not_the_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    layouts = 0
    refresh_layout = Screen._refresh_layout

    def counted_refresh_layout(screen, *args, **kwargs):
        nonlocal layouts
        layouts += 1
        return refresh_layout(screen, *args, **kwargs)

    monkeypatch.setattr(Screen, "_refresh_layout", counted_refresh_layout)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await _settle(pilot)
        layouts = 0
        for done in range(0, 1000, 100):
            app.bridge.emit(SyncProgress("demo", Protocol.IMAP, "INBOX", done, 1000))
            await pilot.pause()
        assert "INBOX 900/1000" in str(app.screen.query_one(StatusBar).render())
        assert layouts == 0, "each progress step laid the whole screen out again"
