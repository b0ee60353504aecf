"""The folder pane: a unified inbox across accounts, the outbox entry, and sort orders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import OptionList

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import DEMO_FOLDERS, demo_config
from tuimail.core.model import FolderRole
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.store.write import ensure_account, upsert_folder
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.widgets.message_list import MessageList

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OTHER = (
    b"From: Zed <zed@example.net>\r\nTo: me@example.net\r\nSubject: aaa first by subject\r\n"
    b"Date: Sun, 22 Nov 2026 11:59:00 +0000\r\nMessage-ID: <other@example.net>\r\n\r\nhi\r\n"
)


def _second_account(data_dir: Path) -> None:
    conn = open_store(data_dir)
    try:
        account = ensure_account(conn, "home", None)
        inbox = upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
        store_message(conn, inbox, raw=OTHER)
    finally:
        conn.close()


async def test_unified_inbox_comes_first_and_holds_every_inbox(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    _second_account(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        folders = app.screen.query_one("#folders", OptionList)
        assert str(folders.get_option_at_index(0).prompt).startswith("Inbox (all accounts)")
        assert folders.get_option_at_index(folders.option_count - 1).id == "outbox"
        messages = app.screen.query_one(MessageList)
        assert len(messages.ids) == DEMO_FOLDERS["INBOX"][1] + 4 + 1
        subjects = {messages.row_at(i).envelope.subject for i in range(len(messages.ids))}
        assert "aaa first by subject" in subjects and "Welcome to tuimail" in subjects

        await pilot.press("S")  # by sender
        assert messages.order is read.SortOrder.SENDER
        await pilot.press("S")  # by subject, newest first within the order's direction
        assert messages.order is read.SortOrder.SUBJECT
        assert "by subject" in app.screen.sub_title


async def test_outbox_entry_opens_the_outbox(tmp_path: Path, demo_store: DemoStore) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        folders = app.screen.query_one("#folders", OptionList)
        folders.focus()
        folders.highlighted = folders.option_count - 1
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)


async def test_sync_health_shows_folder_state_and_errors(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    from tuimail.store.write import record_folder_error
    from tuimail.ui.screens.health import HealthScreen, health_tables

    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
        record_folder_error(conn, inbox.id, "connection refused by \x1b[31mimap.example.org:993")
        (table,) = health_tables(conn)
        cells = [str(cell) for column in table.columns for cell in column._cells]
        assert "connection refused by imap.example.org:993" in cells
        assert "\x1b" not in " ".join(cells)
    finally:
        conn.close()
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("H")
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen)


async def test_sync_health_at_80_columns_leaves_the_imap_state_out(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """At 80 columns every row folded in two with UIDVALIDITY and HIGHESTMODSEQ; they come
    back when the terminal is wide enough."""
    from tests.support.pilot import shown_text
    from tuimail.ui.screens.health import HealthScreen

    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("H")
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen)

        def shown() -> str:
            return shown_text(app.screen.query_one("#health"))

        narrow = shown()
        assert "UIDVALID" not in narrow and "HIGHESTMO" not in narrow
        assert "INBOX" in narrow and "last sync" in narrow
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        assert "UIDVALIDITY" in shown()
