"""The message view's "Server check" line: the account's own server's SPF, DKIM and DMARC
verdicts, built by tuimail; a verdict the sender wrote is never shown."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from tests.support.demo_app import DEMO_SENDER_CONFIG, DemoStore, demo_app
from tuimail.store import read
from tuimail.ui.widgets.message_list import MessageList

TRUSTING = DEMO_SENDER_CONFIG.replace(
    'display_name = "Demo User"\n', 'display_name = "Demo User"\nauthserv_id = "mx.demo.invalid"\n'
)


async def _open_checked(tmp_path: Path, demo_store: DemoStore, config: str) -> tuple[str, str]:
    app = demo_app(demo_store(tmp_path / "data"), config)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        archive = next(f for f in read.folders(app.conn) if f.name == "Archive")
        app.main_screen.show_place((archive.id,))
        app.main_screen.query_one(MessageList).focus()
        await pilot.pause()
        await pilot.press("enter")  # the newest: the message the server checked
        await pilot.pause()
        headers = str(app.screen.query_one("#view-headers", Static).render())
        body = str(app.screen.query_one("#view-body", Static).render())
    return headers, body


async def test_the_servers_verdicts_show_in_the_header(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    headers, body = await _open_checked(tmp_path, demo_store, TRUSTING)
    assert "Subject: Your statement is ready" in headers
    line = headers.splitlines()[-1]
    assert line == "Server check: SPF pass · DKIM pass (bank.example) · DMARC pass"
    assert "FAIL" not in headers  # the sender's own dmarc=fail, below the Received field
    assert "Server check" in body  # the body's imitation stays in the body


async def test_nothing_shows_without_the_accounts_authserv_id(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    headers, _body = await _open_checked(tmp_path, demo_store, DEMO_SENDER_CONFIG)
    assert "Subject: Your statement is ready" in headers
    assert "Server check" not in headers
