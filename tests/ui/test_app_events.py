"""Engine events reach the screen: new mail appears without a keypress, failures are shown."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import DEMO_FOLDERS, demo_config
from tuimail.core.model import Protocol
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.sync.events import (
    GIVEN_UP_NO_TARGET,
    ActionsGivenUp,
    GivenUp,
    StoreChanged,
    SyncFailed,
    SyncFinished,
    SyncProgress,
)
from tuimail.ui.messages import AccountState
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NEW_MESSAGE = (
    b"From: Newcomer <new@example.org>\r\nTo: you@demo.invalid\r\n"
    b"Subject: Arrived while the app was open\r\nDate: Sun, 22 Nov 2026 12:30:00 +0000\r\n"
    b"Message-ID: <arrived@example.org>\r\n\r\nHello.\r\n"
)


def _emit_from_thread(app: TuimailApp, event) -> None:
    worker = threading.Thread(target=app.bridge.emit, args=(event,))
    worker.start()
    worker.join()


async def test_store_changed_shows_new_mail_without_a_keypress(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(MessageList)
        before = len(table.ids)
        # An engine in another thread stores a message with its own connection, then emits.
        conn = open_store(tmp_path)
        try:
            inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
            store_message(conn, inbox.id, raw=NEW_MESSAGE)
            revision = read.revision(conn)
        finally:
            conn.close()
        _emit_from_thread(app, StoreChanged("demo", (inbox.id,), revision))
        await pilot.pause()
        await pilot.pause()
        assert len(table.ids) == before + 1 == DEMO_FOLDERS["INBOX"][1] + 5
        first = table.row_at(0)
        assert first is not None and first.envelope.subject == "Arrived while the app was open"


async def test_progress_and_failure_reach_the_status_bar(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(StatusBar)
        _emit_from_thread(app, SyncProgress("home", Protocol.POP3, "INBOX", 3, 10))
        await pilot.pause()
        assert bar.entry("home") == (AccountState.BUSY, "getting mail: INBOX 3/10")
        _emit_from_thread(
            app, SyncFailed("home", Protocol.POP3, "refused", "connection refused \x1b[2J")
        )
        await pilot.pause()
        state, text = bar.entry("home") or (None, "")
        assert state is AccountState.ERROR
        assert text == "connection refused"
        assert any("connection refused" in str(n.message) for n in app._notifications)
        _emit_from_thread(app, SyncFinished("home", Protocol.POP3, "2 new messages"))
        await pilot.pause()
        state, text = bar.entry("home") or (None, "")
        assert state is AccountState.IDLE and text.startswith("2 new messages (")


async def test_an_action_given_up_is_a_notice_in_words(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """Folder names come from the server: shown as text, never as markup or escapes."""
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        action = GivenUp("copy", 3, "[b]Lists[/b]\x1b[2J", None, GIVEN_UP_NO_TARGET)
        _emit_from_thread(app, ActionsGivenUp("home", (action,)))
        await pilot.pause()
        (notice,) = list(app._notifications)
        assert notice.title == "home: not carried out"
        assert notice.severity == "error" and not notice.markup
        assert notice.message.startswith(
            "Copying 3 messages from [b]Lists[/b] to another folder was not carried out: the"
            " folder to copy to is no longer there; nothing was changed on the server."
        )
