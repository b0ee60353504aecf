"""Conversations as mutt draws them: root first, replies as a tree of lines, conversations by
their newest message; and the conversation reader, every message of one in the message view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.widgets import Static

from tests.support.list_view_mail import NOW, list_store
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.core.model import Address, Envelope
from tuimail.store import read
from tuimail.ui.thread_tree import MAX_DEPTH, tree_order
from tuimail.ui.widgets.conversation import PART_CLASS
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView


def _app(data_dir: Path) -> TuimailApp:
    list_store(data_dir)
    return TuimailApp(demo_config(), data_dir, clock=lambda: NOW, start_workers=False)


def _line(messages: MessageList, index: int) -> str:
    return messages.render_line(index - round(messages.scroll_offset.y)).text


async def test_open_conversation_is_a_tree_root_first(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("t")
        # The conversation's newest message (day 4) is newer than "Alone" (day 3): it comes
        # first, led by its root, "Plans".
        assert len(messages.ids) == 2
        assert "▸ Plans (4)" in _line(messages, 0) and "Ann" in _line(messages, 0)
        assert "Alone" in _line(messages, 1)
        await pilot.press("z")
        lines = [_line(messages, i) for i in range(len(messages.ids))]
        senders = ["Ann", "Bob", "Dan", "Cat", "Sam"]
        tails = [line.split(name, 1)[1].strip() for line, name in zip(lines, senders, strict=True)]
        assert tails == [
            "▾ Plans (4)",
            "├─>Re: Plans",
            "│ └─>Re: Re: Plans",
            "└─>Re: Plans (c)",
            "Alone",
        ], tails


def _row(number: int, parent: int | None) -> read.MessageRow:
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=number)
    envelope = Envelope(
        message_id=f"<m{number}@x>",
        subject="deep",
        from_=(Address("A", "a@x"),),
        to=(),
        cc=(),
        bcc=(),
        reply_to=(),
        date=moment,
        in_reply_to=None if parent is None else f"<m{parent}@x>",
        references=(),
        has_attachments=False,
        size=1,
    )
    return read.MessageRow(
        id=number,
        folder_id=1,
        account_id=1,
        uid=number,
        uidl=None,
        envelope=envelope,
        flags=frozenset(),
        internaldate=moment,
        sort_date=moment,
        thread_id=1,
        body_local=True,
        revision=1,
    )


def test_deep_conversation_indentation_is_bounded() -> None:
    # A chain of 3000 replies, each answering the one before: one walk, bounded lines.
    rows = [_row(1, None), *(_row(n, n - 1) for n in range(2, 3001))]
    order = tree_order(1, rows)
    assert [message_id for message_id, _ in order] == list(range(1, 3001))
    widest = max(len(lines) for _, lines in order)
    assert widest <= 2 * MAX_DEPTH + 3
    assert order[-1][1].startswith("…") and order[-1][1].endswith("└─>")
    # A loop of references (two messages answering each other) still lists each once.
    loop = [_row(1, None), _row(2, 3), _row(3, 2)]
    assert sorted(message_id for message_id, _ in tree_order(1, loop)) == [1, 2, 3]


async def test_conversation_reader_shows_every_message_and_the_cursor_follows(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        view = app.screen.query_one(MessageView)
        await pilot.press("t", "enter")  # enter on a closed conversation reads it whole
        await pilot.pause(0.3)
        parts = list(view.query(f".{PART_CLASS}").results(Static))
        assert len(parts) == 4
        texts = [str(part.render()) for part in parts]
        assert [text.split("\n")[0] for text in texts] == [
            "── 1/4 Ann · Fri, 13 Nov 2026 12:00",
            "── 2/4 Bob · Sat, 14 Nov 2026 12:00",
            "── 3/4 Dan · Mon, 16 Nov 2026 12:00",
            "── 4/4 Cat · Sun, 15 Nov 2026 12:00",
        ]
        assert all("xxxx" in text for text in texts)  # each message's body
        assert app.focused is view
        # The conversation opened in the list too, and its cursor follows the message read.
        assert len(messages.ids) == 5
        assert messages.current_message_id == messages.ids[0]
        await pilot.press("G")
        await pilot.pause(0.3)
        assert messages.current_message_id == messages.ids[3]  # Cat's, the last one shown
        assert "Re: Plans (c)" in _line(messages, messages.cursor)
        # Opening one message (from the list) ends the conversation.
        await pilot.press("q", "enter")
        await pilot.pause(0.3)
        assert not view.query(f".{PART_CLASS}")
        assert view.shown_id == messages.ids[3]


async def test_conversation_reader_folds_long_quotes(tmp_path: Path) -> None:
    list_store(tmp_path)
    # A reply quoting twenty lines, in a conversation of its own.
    from tests.support.list_view_mail import mail
    from tuimail.core.model import SEEN
    from tuimail.store.db import open_store
    from tuimail.store.ingest import IncomingMessage, store_messages

    conn = open_store(tmp_path)
    try:
        inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
        quoted = "\n".join(f"> line {n}" for n in range(20))
        raw = mail("q", "Re: Alone", "Sue <sue@example.org>", 6, reply_to="s", body=quoted)
        store_messages(conn, inbox.id, [IncomingMessage(raw=raw, flags=[SEEN])])
    finally:
        conn.close()
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        view = app.screen.query_one(MessageView)
        await pilot.press("T")  # in the flat list, on Sue's reply: its conversation
        await pilot.pause(0.3)
        parts = [str(p.render()) for p in view.query(f".{PART_CLASS}").results(Static)]
        assert len(parts) == 2 and "Sam" in parts[0] and "Sue" in parts[1]
        assert "quoted lines, press T to show" in parts[1] and "line 19" not in parts[1]
        await pilot.press("T")  # in the view: the quotes shown
        await pilot.pause(0.3)
        parts = [str(p.render()) for p in view.query(f".{PART_CLASS}").results(Static)]
        assert "line 19" in parts[1]
        assert messages.current_message_id is not None


async def test_next_and_previous_message_within_the_conversation(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        view = app.screen.query_one(MessageView)
        await pilot.press("t", "T")
        await pilot.pause(0.3)
        conversation = list(view.conversation.ids)
        assert len(conversation) == 4
        await pilot.press("J")
        await pilot.pause(0.3)
        assert view.conversation.reading() == conversation[1]
        assert messages.current_message_id == conversation[1]
        await pilot.press("J", "K")
        await pilot.pause(0.3)
        assert view.conversation.reading() == conversation[1]
        assert view.conversation.ids == conversation  # still the whole conversation


async def test_a_long_conversation_shows_its_first_messages(tmp_path: Path, monkeypatch) -> None:
    from tuimail.ui.widgets import conversation

    monkeypatch.setattr(conversation, "MAX_MESSAGES", 2)
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        view = app.screen.query_one(MessageView)
        await pilot.press("t", "T")
        await pilot.pause(0.3)
        assert len(view.query(f".{PART_CLASS}")) == 2
        assert any("2 more are in the list" in str(n.message) for n in app._notifications)


async def test_a_message_that_cannot_be_downloaded_says_why_in_the_conversation(
    tmp_path: Path,
) -> None:
    """Its part said "Downloading" for good once the download failed; it says why now, and
    the others stay as they were."""
    from tuimail.store.db import open_store
    from tuimail.ui.messages import BodyFailed

    list_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        (missing,) = [
            m for (m,) in conn.execute("SELECT id FROM messages WHERE subject = 'Re: Re: Plans'")
        ]
        with conn:
            conn.execute("DELETE FROM bodies WHERE message_id = ?", (missing,))
            conn.execute("UPDATE messages SET body_local = 0 WHERE id = ?", (missing,))
    finally:
        conn.close()
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        view = app.screen.query_one(MessageView)
        await pilot.press("t", "T")
        await pilot.pause(0.3)
        index = view.conversation.ids.index(missing)

        def parts() -> list[str]:
            return [str(p.render()) for p in view.query(f".{PART_CLASS}").results(Static)]

        assert "Downloading the message" in parts()[index]
        app.screen.post_message(BodyFailed(missing, "the server did not answer"))
        await pilot.pause(0.3)
        shown = parts()
        assert "Downloading" not in shown[index]
        assert "Could not download the message: the server did not answer" in shown[index]
        assert all("Downloading" not in part for part in shown)
