"""The line-API message list on a large folder: reads only what it paints, navigates by keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tuimail.app import TuimailApp
from tuimail.corpus import MailGenerator
from tuimail.demo import demo_config
from tuimail.model import FolderRole
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder
from tuimail.ui.widgets import message_list
from tuimail.ui.widgets.message_list import MessageList

COUNT = 3000
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of COUNT generated messages, stored through the ingest code."""
    data_dir = tmp_path_factory.mktemp("big")
    conn = open_store(data_dir)
    try:
        account = ensure_account(conn, "demo", None)
        inbox = upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
        generator = MailGenerator(7, "you@demo.invalid")
        batch = [
            IncomingMessage(raw=m.raw, flags=m.flags)
            for m in generator.messages("INBOX", COUNT, NOW - timedelta(days=900), NOW)
        ]
        store_messages(conn, inbox, batch)
    finally:
        conn.close()
    return data_dir


async def test_navigation_over_a_large_folder(big_store: Path) -> None:
    app = TuimailApp(demo_config(), big_store, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        assert len(messages.ids) == COUNT
        assert messages.cursor == 0
        newest, oldest = messages.row_at(0), messages.row_at(COUNT - 1)
        assert newest is not None and oldest is not None
        assert newest.sort_date >= oldest.sort_date
        # Only the pages around what was painted were read, not the whole folder.
        assert len(messages._rows) <= 2 * message_list.PAGE_ROWS + 2

        await pilot.press("G")
        assert messages.cursor == COUNT - 1
        assert messages.current_message_id == oldest.id
        assert round(messages.scroll_offset.y) > 0

        await pilot.press("g")
        assert messages.cursor == 0 and round(messages.scroll_offset.y) == 0

        page = messages.scrollable_content_region.height - 1
        await pilot.press("pagedown")
        assert messages.cursor == page
        await pilot.press("j", "j", "k")
        assert messages.cursor == page + 1
        await pilot.press("pageup")
        assert messages.cursor == 1


async def test_painted_lines_show_sender_and_subject(big_store: Path) -> None:
    app = TuimailApp(demo_config(), big_store, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        row = messages.row_at(0)
        assert row is not None
        line = messages.render_line(0).text
        assert len(line) <= messages.size.width
        assert row.envelope.subject[:20] in line
        assert (row.envelope.from_[0].name or row.envelope.from_[0].email)[:8] in line
