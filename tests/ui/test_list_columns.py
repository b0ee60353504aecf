"""The message list's orders and columns, and the mouse on it: each sort key both ways (the
title says which), a size column when sorted by size, the folder of each hit in a search of all
mail, whom a message went to in Sent, and a click / double click on a line."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from tests.support.list_view_mail import NOW, list_store
from tests.support.pilot import searched
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.store import read
from tuimail.ui.widgets.list_row import compact_size
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView


def _app(data_dir: Path) -> TuimailApp:
    list_store(data_dir)
    return TuimailApp(demo_config(), data_dir, clock=lambda: NOW, start_workers=False)


def _msgids(app: TuimailApp, messages: MessageList) -> list[str]:
    """The listed messages' Message-ID local parts ("a", "b", ...), in list order."""
    return [
        row.envelope.message_id.strip("<>").split("@")[0]
        for row in read.rows(app.conn, messages.ids)
    ]


def _line(messages: MessageList, index: int) -> str:
    return messages.render_line(index - round(messages.scroll_offset.y)).text


async def test_every_sort_key_both_ways(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        assert _msgids(app, messages) == ["d", "s", "c", "b", "a"]  # newest first
        assert "by date, newest first" in app.screen.sub_title
        await pilot.press("I")
        assert _msgids(app, messages) == ["a", "b", "c", "s", "d"]
        assert "by date, oldest first" in app.screen.sub_title
        expected = {
            # Names from A to Z first (ties: oldest first), then Z to A.
            "sender": (["a", "b", "c", "d", "s"], "A→Z", "Z→A"),
            # Reply prefixes do not count: "Plans" (a, b, d by date) before "Plans (c)".
            "subject": (["s", "a", "b", "d", "c"], "A→Z", "Z→A"),
            "size": (["s", "d", "c", "b", "a"], "largest first", "smallest first"),
            "date": (["d", "s", "c", "b", "a"], "newest first", "oldest first"),
        }
        for key, (first_way, words, other_words) in expected.items():
            await pilot.press("S")
            assert messages.order.value == key
            assert _msgids(app, messages) == first_way, key
            assert f"by {key}, {words}" in app.screen.sub_title
            await pilot.press("I")
            assert _msgids(app, messages) == list(reversed(first_way)), key
            assert f"by {key}, {other_words}" in app.screen.sub_title
        # Conversations come by their newest message whatever the flat list's order.
        await pilot.press("t")
        assert "conversations by their newest message" in app.screen.sub_title
        await pilot.press("t")
        assert "by date, oldest first" in app.screen.sub_title


async def test_size_column_when_sorted_by_size(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        biggest = read.row(app.conn, messages.ids[1])  # "s", 3 MiB of text
        assert biggest is not None
        assert compact_size(biggest.envelope.size) not in _line(messages, 1)
        await pilot.press("S", "S", "S")
        assert messages.order is read.SortOrder.SIZE
        top = read.row(app.conn, messages.ids[0])
        assert top is not None and top.id == biggest.id
        assert "3.0M" in _line(messages, 0)
        smallest = read.row(app.conn, messages.ids[-1])
        assert smallest is not None and smallest.envelope.size < 1024
        assert f" {smallest.envelope.size} " in _line(messages, len(messages.ids) - 1)
        assert "39K" in _line(messages, 1)  # 40,000 bytes of text and a header
    assert compact_size(1234567) == "1.2M" and compact_size(3481) == "3.4K"


async def _search(pilot: Pilot[None], key: str, words: str) -> None:
    await pilot.press(key, *words, "enter")
    await searched(pilot)


async def test_search_of_all_mail_names_each_folder(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await _search(pilot, "ctrl+k", "plans")
        lines = {
            read.row(app.conn, message_id).envelope.subject: _line(messages, index)  # type: ignore[union-attr]
            for index, message_id in enumerate(messages.ids)
        }
        assert len(lines) == 5
        assert "Sent" in lines["Plans (mine)"] and "INBOX" not in lines["Plans (mine)"]
        assert "INBOX" in lines["Plans"] and "Sent" not in lines["Plans"]
        # A search of one folder needs no folder column.
        await pilot.press("escape")
        await _search(pilot, "slash", "plans")
        assert len(messages.ids) == 4
        assert not any("INBOX" in _line(messages, i) for i in range(len(messages.ids)))


async def test_sent_shows_whom_a_message_went_to(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        assert "Ann" in _line(messages, len(messages.ids) - 1)  # INBOX: the sender
        sent = next(f for f in read.folders(app.conn) if f.name == "Sent")
        app.screen.show_place((sent.id,))  # type: ignore[attr-defined]
        await pilot.pause()
        line = _line(messages, 0)
        assert "To: Zoe +2" in line and "Me" not in line.split("Plans")[0]


async def test_click_highlights_and_double_click_opens(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        view = app.screen.query_one(MessageView)
        await pilot.click(MessageList, offset=(30, 2))
        await pilot.pause(0.2)
        assert messages.cursor == 2
        assert messages.current_message_id == messages.ids[2]
        assert app.focused is messages
        assert view.shown_id == messages.ids[2]  # the view follows the highlight
        await pilot.double_click(MessageList, offset=(30, 3))
        await pilot.pause()
        assert messages.cursor == 3
        assert app.focused is view  # opened: the view has the focus, as after enter
        assert view.shown_id == messages.ids[3]
        # Below the last line nothing happens.
        await pilot.click(MessageList, offset=(30, 20))
        assert messages.cursor == 3


async def test_search_of_all_mail_names_the_account_when_there_are_several(
    tmp_path: Path,
) -> None:
    from tests.support.list_view_mail import mail
    from tuimail.core.model import FolderRole
    from tuimail.store.db import open_store
    from tuimail.store.ingest import IncomingMessage, store_messages
    from tuimail.store.write import ensure_account, upsert_folder

    app = _app(tmp_path)
    conn = open_store(tmp_path)
    try:
        other = ensure_account(conn, "home", None)
        inbox = upsert_folder(conn, other, "INBOX", role=FolderRole.INBOX)
        raw = mail("h", "Plans at home", "Hal <hal@example.org>", 2)
        store_messages(conn, inbox, [IncomingMessage(raw=raw)])
    finally:
        conn.close()
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await _search(pilot, "ctrl+k", "plans")
        lines = {
            read.row(app.conn, message_id).envelope.subject: _line(messages, index)  # type: ignore[union-attr]
            for index, message_id in enumerate(messages.ids)
        }
        assert "home/INBOX" in lines["Plans at home"]
        assert "demo/INBOX" in lines["Plans"] and "demo/Sent" in lines["Plans (mine)"]


async def test_sorting_during_a_search_says_it_applies_to_the_folder(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await _search(pilot, "slash", "plans")
        found = list(messages.ids)
        await pilot.press("S")
        assert messages.ids == found
        assert any("by sender, A→Z after the search" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        assert _msgids(app, messages) == ["a", "b", "c", "d", "s"]
