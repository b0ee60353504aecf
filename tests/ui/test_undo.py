"""`u` undoes the last delete, move, flag or read; a delete for good is asked about first.

On a local account (the demo) the inverse is applied at once; on an IMAP account an action not
yet replayed is cancelled (the journal entry goes, the message gets its folder and UID back),
and one the server has is undone by queuing the inverse (a move back from Trash).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import Static

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.config.schema import Config
from tuimail.core.model import FLAGGED, SEEN, FolderRole, Protocol
from tuimail.store import ops, read, write
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.store.lock import AccountLock
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.widgets.message_list import MessageList

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _folder(app: TuimailApp, name: str) -> read.FolderInfo:
    return next(f for f in read.folders(app.conn) if f.name == name)


def _notices(app: TuimailApp) -> str:
    return " ".join(str(n.message) for n in app._notifications)


async def test_undo_a_move_to_trash_a_flag_and_a_read(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("j", "j")
        chosen = messages.current_message_id
        flags = read.row(app.conn, chosen).flags
        inbox, trash = _folder(app, "INBOX"), _folder(app, "Trash")

        await pilot.press("d")
        await pilot.pause()
        assert read.row(app.conn, chosen).folder_id == trash.id
        await pilot.press("u")
        await pilot.pause()
        row = read.row(app.conn, chosen)
        assert row.folder_id == inbox.id and row.flags == flags
        assert _folder(app, "INBOX").total == inbox.total
        assert _folder(app, "Trash").total == trash.total
        assert messages.current_message_id == chosen, "the cursor is on the message brought back"
        assert "is back in INBOX" in _notices(app)

        await pilot.press("F", "u")
        assert read.row(app.conn, chosen).flags == flags
        await pilot.press("N", "u")
        assert read.row(app.conn, chosen).flags == flags
        assert "Nothing to undo" not in _notices(app)
        await pilot.press("u")  # one level: the last action only
        await pilot.pause()
        assert "Nothing to undo" in _notices(app)


async def test_a_delete_for_good_asks_first_with_no_as_the_default(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        trash = _folder(app, "Trash")
        screen.show_place((trash.id,))
        await pilot.pause()
        messages = screen.query_one(MessageList)
        chosen = messages.current_message_id
        assert chosen is not None

        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert "for good" in str(app.screen.query_one(Static).render())
        await pilot.press("enter")  # No is focused: enter keeps the message
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert read.row(app.conn, chosen) is not None

        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert read.row(app.conn, chosen) is None
        assert _folder(app, "Trash").total == trash.total - 1
        await pilot.press("u")
        await pilot.pause()
        assert "A delete for good cannot be undone" in _notices(app)


def _imap_store(data_dir: Path) -> tuple[int, int]:
    """An IMAP account's INBOX (three messages with UIDs) and Trash; returns their ids."""
    conn = open_store(data_dir)
    try:
        account = write.ensure_account(conn, "work", Protocol.IMAP)
        inbox = write.upsert_folder(conn, account, "INBOX", delimiter="/", role=FolderRole.INBOX)
        trash = write.upsert_folder(conn, account, "Trash", delimiter="/", role=FolderRole.TRASH)
        write.update_folder_state(conn, inbox, uidvalidity=7)
        write.update_folder_state(conn, trash, uidvalidity=8)
        for uid in (1, 2, 3):
            raw = (
                f"From: a{uid}@example.org\r\nTo: me@example.org\r\nSubject: Message {uid}\r\n"
                f"Date: 2{uid} Nov 2026 10:00:00 +0000\r\nMessage-ID: <m{uid}@example.org>\r\n"
                "\r\nHello.\r\n"
            ).encode()
            store_message(conn, inbox, raw=raw, uid=uid, flags=[SEEN, FLAGGED] if uid == 2 else [])
        return inbox, trash
    finally:
        conn.close()


async def test_undo_on_an_imap_account_before_and_after_the_replay(tmp_path: Path) -> None:
    inbox, trash = _imap_store(tmp_path)
    app = TuimailApp(Config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.show_place((inbox,))
        await pilot.pause()
        messages = screen.query_one(MessageList)
        await pilot.press("j")
        chosen = messages.current_message_id
        before = read.row(app.conn, chosen)
        assert before.uid == 2

        # Before the replay: the journal entry is cancelled, the message keeps its UID.
        await pilot.press("d")
        await pilot.pause()
        assert ops.count_pending(app.conn) == 1
        await pilot.press("u")
        await pilot.pause()
        assert ops.count_pending(app.conn) == 0
        row = read.row(app.conn, chosen)
        assert (row.folder_id, row.uid, row.flags) == (inbox, 2, before.flags)

        # After the replay (the server moved it and said where: UID 40 in Trash), undo queues a
        # move back from Trash.
        await pilot.press("d")
        await pilot.pause()
        [op] = ops.pending(app.conn, read.row(app.conn, chosen).account_id)
        ops.mark_done(app.conn, op.id)
        write.assign_uid(app.conn, chosen, 40)
        await pilot.press("u")
        await pilot.pause()
        [back] = ops.pending(app.conn, op.account_id)
        assert back.kind is ops.OpKind.MOVE and back.folder_id == trash
        assert back.args["to_folder_id"] == inbox
        assert [(t.message_id, t.uid) for t in back.targets] == [(chosen, 40)]
        row = read.row(app.conn, chosen)
        assert row.folder_id == inbox and row.flags == before.flags
        ops.discard(app.conn, back.id)

        # While a sync holds the account's lock the op may be on its way: undo does not
        # cancel it but queues the inverse, which the replay gives the UID it learns.
        await pilot.press("d")
        await pilot.pause()
        [op] = ops.pending(app.conn, op.account_id)
        with AccountLock(tmp_path, "work", "imap"):
            await pilot.press("u")
            await pilot.pause()
        queued = ops.pending(app.conn, op.account_id)
        assert [q.kind for q in queued] == [ops.OpKind.MOVE, ops.OpKind.MOVE]
        assert queued[1].folder_id == trash and queued[1].targets[0].uid is None
        assert read.row(app.conn, chosen).folder_id == inbox


async def test_a_pop3_account_without_trash_asks_before_deleting(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    try:
        account = write.ensure_account(conn, "home", Protocol.POP3)
        inbox = write.upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
        raw = b"From: a@example.org\r\nSubject: Keep me\r\nMessage-ID: <k@x.org>\r\n\r\nHi.\r\n"
        chosen = store_message(conn, inbox, raw=raw, uidl="k1")
    finally:
        conn.close()
    app = TuimailApp(Config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert app.screen.query_one(MessageList).current_message_id == chosen
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert "no Trash" in str(app.screen.query_one(Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert read.row(app.conn, chosen) is not None
