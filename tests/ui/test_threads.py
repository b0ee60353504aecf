"""Conversations in the message list: one line each, opened and closed in place."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.core.model import FLAGGED
from tuimail.store import conversations, ops, read
from tuimail.store.db import open_store
from tuimail.ui.widgets.message_list import MessageList

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_thread_heads_count_each_conversation_once(tmp_path: Path, demo_store: DemoStore) -> None:
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
        heads = conversations.thread_heads(conn, [inbox.id])
        assert sum(h.count for h in heads) == inbox.total
        assert sum(h.unread for h in heads) == inbox.unread
        assert len({h.thread_id for h in heads}) == len(heads)
        # Conversations come by their newest message (a new reply brings one up), each led
        # by its first message, its root.
        newest = []
        for head in heads:
            members = conversations.thread_members(conn, head.thread_id, [inbox.id])
            assert members[0] == head.message_id
            newest.append(read.row(conn, members[-1]).sort_date)
        assert newest == sorted(newest, reverse=True)
        big = max(heads, key=lambda h: h.count)
        assert big.count > 1
        members = conversations.thread_members(conn, big.thread_id, [inbox.id])
        assert len(members) == big.count and members[0] == big.message_id
    finally:
        conn.close()


async def test_threads_open_and_close_in_place(tmp_path: Path, demo_store: DemoStore) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        flat = len(messages.ids)
        await pilot.press("t")
        heads = len(messages.ids)
        assert heads < flat
        # Find a conversation of several messages and open it.
        index = next(
            i for i, mid in enumerate(messages.ids) if getattr(messages._head(mid), "count", 0) > 1
        )
        head = messages._head(messages.ids[index])
        messages.cursor = index
        await pilot.press("z")
        assert len(messages.ids) == heads + head.count - 1
        assert "▾" in messages.render_line(index - round(messages.scroll_offset.y)).text
        await pilot.press("down", "z")  # closing from inside the thread returns to its head
        assert len(messages.ids) == heads
        assert messages.current_message_id == head.message_id
        await pilot.press("t")
        assert len(messages.ids) == flat


async def test_closed_conversation_shows_unread_and_flagged_mail_inside(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
        big = max(conversations.thread_heads(conn, [inbox.id]), key=lambda h: h.count)
        members = conversations.thread_members(conn, big.thread_id, [inbox.id])
        # Everything read and unflagged, but for one older message: unread and flagged.
        ops.enqueue(conn, ops.OpKind.SEEN, members)
        ops.enqueue(conn, ops.OpKind.UNFLAG, members, flag=FLAGGED)
        ops.enqueue(conn, ops.OpKind.UNSEEN, [members[0]])
        ops.enqueue(conn, ops.OpKind.FLAG, [members[0]], flag=FLAGGED)
    finally:
        conn.close()
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("t")
        index = messages.ids.index(big.message_id)
        messages.cursor = index
        await pilot.pause()
        line = messages.render_line(index - round(messages.scroll_offset.y))
        assert line.text.startswith("●★"), line.text
        assert any(seg.style is not None and seg.style.bold for seg in line if seg.text.strip())
        # Reading and unflagging the older message (inside the open conversation) clears both
        # marks of the line once the conversation is closed again.
        await pilot.press("z")
        messages.cursor = messages.ids.index(members[0])
        await pilot.press("N", "F", "z")
        index = messages.ids.index(big.message_id)
        line = messages.render_line(index - round(messages.scroll_offset.y))
        assert line.text.startswith("  "), line.text
        assert not any(seg.style is not None and seg.style.bold for seg in line if seg.text.strip())
