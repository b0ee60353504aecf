"""The outbox screen says what a queued message waits for: a retry after a temporary refusal
(with the server's reply) is not the undo-send grace period. No network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.widgets import DataTable, Static

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.store import outbox, read
from tuimail.store.db import open_store
from tuimail.ui.screens.outbox import OutboxScreen

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIG = """
[accounts.demo]
address = "you@demo.invalid"
[accounts.demo.smtp]
host = "127.0.0.1"
port = 9
security = "none"
"""
RAW = b"To: ann@example.org\r\nSubject: busy\r\nMessage-ID: <m@x>\r\n\r\nHello\r\n"


async def test_a_message_waiting_for_a_retry_says_so_with_the_reply(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        account_id = read.account_id(conn, "demo")
        assert account_id is not None
        now = datetime.now(UTC)
        item = outbox.enqueue(
            conn, account_id, RAW, message_id="m@x", env_from="you@demo.invalid",
            env_rcpts=["ann@example.org"], now=now,
        )  # fmt: skip
        outbox.begin_sending(conn, item, now=now)
        reply = "RCPT TO: 450 4.2.1 Mailbox busy, try again later"
        outbox.defer(conn, item, reply, retry_at=now + timedelta(minutes=5), now=now)
    finally:
        conn.close()
    app = TuimailApp(parse_config(CONFIG), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        table = app.screen.query_one(DataTable)
        assert str(table.get_row_at(0)[1]).startswith("retry in ")
        detail = str(app.screen.query_one("#outbox-detail", Static).render())
        assert "450 4.2.1 Mailbox busy" in detail
        assert "try again after a temporary refusal" in detail
        assert "grace period" not in detail


async def test_the_outbox_lists_every_attempt_with_the_server_reply(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """Refused for now, then for good: the outbox shows each step the message went through, with
    the reply of each attempt, not only the last one."""
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        account_id = read.account_id(conn, "demo")
        assert account_id is not None
        now = datetime.now(UTC)
        item = outbox.enqueue(
            conn, account_id, RAW, message_id="m@x", env_from="you@demo.invalid",
            env_rcpts=["ann@example.org"], now=now,
        )  # fmt: skip
        outbox.begin_sending(conn, item, now=now)
        outbox.defer(conn, item, "450 4.2.1 Mailbox busy", retry_at=now, now=now)
        outbox.begin_sending(conn, item, now=now)
        outbox.mark_failed(conn, item, "550 5.1.1 [red]No such user\x1b[2J", now=now)
    finally:
        conn.close()
    app = TuimailApp(parse_config(CONFIG), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        detail = str(app.screen.query_one("#outbox-detail", Static).render())
        steps = detail.split("History:\n", 1)[1].splitlines()
        assert [step.split("  ", 2)[2] for step in steps[:5]] == [
            "queued",
            "queued → sending",
            "sending → queued: 450 4.2.1 Mailbox busy",
            "queued → sending",
            "sending → failed: 550 5.1.1 [red]No such user",  # as text, without the escape
        ]
