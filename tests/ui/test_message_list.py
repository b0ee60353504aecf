"""The line-API message list on a large folder: reads only what it paints, navigates by keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.core.model import FolderRole
from tuimail.mail.corpus import MailGenerator
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


async def test_a_message_marked_deleted_elsewhere_is_struck_through(tmp_path: Path) -> None:
    """Another mail program marked it \\Deleted and the server keeps it until an expunge: it is
    not shown as an ordinary message."""
    conn = open_store(tmp_path)
    try:
        account = ensure_account(conn, "demo", None)
        inbox = upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
        raws = [
            f"From: a@example.org\r\nSubject: {name}\r\nDate: Mon, 0{n} Mar 2026 10:00:00 +0000"
            f"\r\n\r\nbody\r\n".encode()
            for n, name in ((1, "kept"), (2, "marked"))
        ]
        store_messages(
            conn,
            inbox,
            [
                IncomingMessage(raw=raws[0], flags=frozenset({"\\Seen"})),
                IncomingMessage(raw=raws[1], flags=frozenset({"\\Seen", "\\Deleted"})),
            ],
        )
    finally:
        conn.close()
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        lines = {
            messages.row_at(i).envelope.subject: messages.render_line(i)  # type: ignore[union-attr]
            for i in range(2)
        }
        assert lines["marked"].text.startswith("✗")
        assert not lines["kept"].text.startswith("✗")
        struck = [s for s in lines["marked"] if "marked" in s.text]
        assert struck and all(s.style is not None and s.style.strike for s in struck)
        assert not any(s.style is not None and s.style.strike for s in lines["kept"])
