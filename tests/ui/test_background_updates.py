"""Changes the user did not make (new mail, another client's flags and deletes) never end a
search, never move the highlight, and never let a key act on a message the user did not see
highlighted. An engine writes the store with its own connection and emits, as the sync does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from tests.support.demo_app import DemoStore
from tests.support.pilot import searched
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.core.model import FLAGGED, FolderRole, Protocol
from tuimail.store import ops, read, write
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.sync.events import StoreChanged
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import DISPLACED

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _message(subject: str, day: int, body: str = "Hello.", refs: str = "") -> bytes:
    references = f"In-Reply-To: {refs}\r\nReferences: {refs}\r\n" if refs else ""
    return (
        f"From: Sender {day} <s{day}@example.org>\r\nTo: you@demo.invalid\r\n"
        f"Subject: {subject}\r\nDate: {day:02d} Nov 2026 11:{day:02d}:00 +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}.{day}@example.org>\r\n{references}\r\n"
        f"{body}\r\n"
    ).encode()


def _inbox(conn) -> read.FolderInfo:
    return next(f for f in read.folders(conn) if f.name == "INBOX")


def _engine(app: TuimailApp, data_dir: Path, change) -> None:
    """Change the store as an engine does (its own connection, in its own thread), then emit."""

    def work() -> None:
        conn = open_store(data_dir)
        try:
            inbox = _inbox(conn)
            change(conn, inbox)
            app.bridge.emit(StoreChanged("demo", (inbox.id,), read.revision(conn)))
        finally:
            conn.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()


def _new_mail(subject: str, body: str = "Hello.", refs: str = ""):
    return lambda conn, inbox: store_message(conn, inbox.id, raw=_message(subject, 22, body, refs))


async def _settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
    await searched(pilot)  # a search shown is found again off the UI thread


async def _search(pilot, text: str) -> None:
    await pilot.press("slash")
    await pilot.pause()
    await pilot.press(*text, "enter")
    await searched(pilot)


async def test_new_mail_and_flags_keep_the_search_and_its_cursor(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        for day in (3, 4):
            store_message(
                conn, _inbox(conn).id, raw=_message(f"Needle {day}", day, "the NEEDLE here")
            )
    finally:
        conn.close()
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await _search(pilot, "NEEDLE")
        assert len(messages.ids) == 2
        await pilot.press("j")  # the older result: "Needle 3"
        chosen = messages.current_message_id
        assert read.row(app.conn, chosen).envelope.subject == "Needle 3"

        _engine(app, tmp_path, _new_mail("Unrelated news"))
        await _settle(pilot)
        assert messages.place is None, "new mail ended the search"
        assert len(messages.ids) == 2
        assert messages.current_message_id == chosen

        # Another client flags the highlighted result: its row shows it, the search stays.
        _engine(
            app,
            tmp_path,
            lambda conn, inbox: ops.enqueue(conn, ops.OpKind.FLAG, [chosen], flag=FLAGGED),
        )
        await _settle(pilot)
        assert messages.place is None and messages.current_message_id == chosen
        assert FLAGGED in messages.row_at(messages.cursor).flags
        assert "★" in messages.render_line(messages.cursor - round(messages.scroll_offset.y)).text

        # New mail that matches joins the results above; the cursor stays on the same message.
        _engine(app, tmp_path, _new_mail("Needle 22", "another NEEDLE"))
        await _settle(pilot)
        assert len(messages.ids) == 3
        assert messages.current_message_id == chosen
        assert "3 found" in app.screen.sub_title

        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert app.screen.query_one("#subject", Input).value == "Re: Needle 3"


async def test_new_mail_keeps_the_highlighted_message_on_its_screen_line(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """Scrolled down the list, new mail arriving above changes nothing the user looks at."""
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("pagedown", *"j" * 4)
        assert round(messages.scroll_offset.y) > 0, "the list is scrolled down"
        chosen = messages.current_message_id
        line = messages.cursor - round(messages.scroll_offset.y)

        _engine(app, tmp_path, _new_mail("Arrived while reading"))
        await _settle(pilot)
        assert messages.current_message_id == chosen
        assert messages.cursor - round(messages.scroll_offset.y) == line, "the view jumped"

        trash_before = next(f for f in read.folders(app.conn) if f.name == "Trash").total
        await pilot.press("d")
        await pilot.pause()
        moved = read.row(app.conn, chosen)
        assert moved is not None and read.folder(app.conn, moved.folder_id).name == "Trash"
        assert next(f for f in read.folders(app.conn) if f.name == "Trash").total == (
            trash_before + 1
        )


@pytest.mark.parametrize("row", [0, 4])
async def test_new_mail_shows_at_the_top_while_the_top_is_in_view(
    row: int, tmp_path: Path, demo_store: DemoStore
) -> None:
    """With the top of the list in view, new mail comes into view there, and the highlighted
    message, still highlighted, moves down a line with its row."""
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        if row:
            await pilot.press(*"j" * row)
        assert messages.cursor == row and round(messages.scroll_offset.y) == 0
        chosen = messages.current_message_id

        newest = _message("Arrived at the top", 28)  # dated after every demo message
        _engine(app, tmp_path, lambda conn, inbox: store_message(conn, inbox.id, raw=newest))
        await _settle(pilot)
        assert messages.current_message_id == chosen and messages.cursor == row + 1
        assert round(messages.scroll_offset.y) == 0
        top = messages.row_at(0)
        assert top is not None and top.envelope.subject == "Arrived at the top"
        assert not messages.displaced


async def test_a_highlighted_message_deleted_elsewhere_leaves_nothing_to_act_on(
    tmp_path: Path,
    demo_store: DemoStore,
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("j", "j")
        gone = messages.current_message_id
        successor = messages.ids[messages.cursor + 1]

        _engine(app, tmp_path, lambda conn, inbox: ops.enqueue(conn, ops.OpKind.DELETE, [gone]))
        await _settle(pilot)
        assert gone not in messages.ids
        assert messages.displaced and messages.current_message_id is None
        # Nothing is highlighted, so no key acts on the message that took its place.
        total = _inbox(app.conn).total
        await pilot.press("d", "R", "F")
        await _settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert _inbox(app.conn).total == total
        assert FLAGGED not in read.row(app.conn, successor).flags
        # A cursor key picks the message now on that line; then keys act on it.
        await pilot.press("j")
        assert not messages.displaced and messages.current_message_id == successor
        await pilot.press("F")
        assert FLAGGED in read.row(app.conn, successor).flags


async def test_a_folder_emptied_and_refilled_elsewhere_highlights_nothing(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """A folder rebuilt from the server (renumbered, or its name now another folder's) is
    emptied and then filled in two commits: the list passes through empty, and when the new
    messages come nothing is highlighted, so the next key acts on none of them."""
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("j")
        assert messages.current_message_id is not None

        def empty(conn, inbox: read.FolderInfo) -> None:
            write.reset_folder(conn, inbox.id, 4242)
            conn.execute("DELETE FROM messages WHERE folder_id = ?", (inbox.id,))

        _engine(app, tmp_path, empty)
        await _settle(pilot)
        assert messages.ids == []
        _engine(app, tmp_path, _new_mail("Another folder's message"))
        await _settle(pilot)
        assert len(messages.ids) == 1
        assert messages.displaced and messages.current_message_id is None
        # Told once there is something not to act on.
        assert DISPLACED in str(app.screen.query_one("#view-body", Static).render())
        await pilot.press("F")
        await _settle(pilot)
        assert FLAGGED not in read.row(app.conn, messages.ids[0]).flags
        await pilot.press("k")
        assert messages.current_message_id == messages.ids[0]


async def test_new_mail_in_the_highlighted_conversation_keeps_its_line(
    tmp_path: Path,
    demo_store: DemoStore,
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("t", "j", "j")
        head = messages.current_message_id
        assert head is not None
        count = messages._threads.heads[head].count
        row = read.row(app.conn, head)
        reply = _new_mail("Re: " + row.envelope.subject, refs=row.envelope.message_id or "")

        _engine(app, tmp_path, reply)
        await _settle(pilot)
        # A conversation's line stands for its first message, which a new reply does not
        # change: the highlight stays on it.
        assert not messages.displaced
        assert messages.current_message_id == head
        assert messages._threads.heads[head].count == count + 1
        line = messages.render_line(messages.cursor - round(messages.scroll_offset.y)).text
        assert f"({count + 1})" in line


async def test_the_user_own_delete_in_a_search_goes_to_the_next_result(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        for day in (3, 4, 5):
            store_message(
                conn, _inbox(conn).id, raw=_message(f"Needle {day}", day, "the NEEDLE here")
            )
    finally:
        conn.close()
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await _search(pilot, "NEEDLE")
        await pilot.press("j")
        following = messages.ids[2]
        await pilot.press("d")
        await pilot.pause()
        assert messages.place is None and len(messages.ids) == 2
        assert not messages.displaced and messages.current_message_id == following


async def test_new_mail_in_another_account_keeps_the_unified_inbox_cursor(
    tmp_path: Path,
    demo_store: DemoStore,
) -> None:
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        account = write.ensure_account(conn, "work", Protocol.IMAP)
        work_inbox = write.upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
        write.update_folder_state(conn, work_inbox, uidvalidity=5)
        store_message(conn, work_inbox, raw=_message("Work 1", 20), uid=1)
    finally:
        conn.close()
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = app.screen
        messages = screen.query_one(MessageList)
        assert screen.current_place == screen.unified_inbox and len(screen.unified_inbox) == 2
        await pilot.press(*"j" * 3)
        chosen = messages.current_message_id
        line = messages.cursor - round(messages.scroll_offset.y)

        def work_mail(conn, _inbox) -> None:
            store_message(conn, work_inbox, raw=_message("Work 2", 22), uid=2)
            app.bridge.emit(StoreChanged("work", (work_inbox,), read.revision(conn)))

        _engine(app, tmp_path, work_mail)
        await _settle(pilot)
        assert screen.current_place == screen.unified_inbox
        assert "Work 2" in {r.envelope.subject for r in read.rows(app.conn, messages.ids[:5])}
        assert messages.current_message_id == chosen
        # The top of the list was in view: it stays there, where the new mail is.
        assert line == 3 and round(messages.scroll_offset.y) == 0
