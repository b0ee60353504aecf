"""The app downloads a big POP3 maildrop against the real Dovecot (its batches stored by the
writer process: enough of them), and a second get-mail downloads nothing twice; the bodies,
stored unparsed, are indexed behind by the app (in the parsing worker processes: enough of them)
and then found by their words in the search line."""

from __future__ import annotations

import asyncio
from multiprocessing import resource_tracker
from pathlib import Path

import pytest

from tests.support.app_mail import account_config
from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.store import reindex
from tuimail.store.db import open_store
from tuimail.sync.events import Event, SyncFailed, SyncFinished
from tuimail.sync.pop3.download import WRITER_MESSAGES
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration

COUNT = 2000


def numbered_message(number: int) -> bytes:
    return (
        f"From: Sender {number % 37} <sender{number % 37}@tuimail.test>\r\n"
        "To: someone@tuimail.test\r\n"
        f"Subject: big maildrop {number}\r\n"
        f"Date: Mon, 02 Mar 2026 {number // 3600 % 24:02d}:{number // 60 % 60:02d}:"
        f"{number % 60:02d} +0000\r\n"
        f"Message-ID: <big-{number}@tuimail.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Body of message {number}.\r\n" + "Some more text to parse.\r\n" * 20
    ).encode()


def _stored(data_dir: Path) -> tuple[int, int]:
    """(messages in the store, distinct POP3 UIDLs among them)."""
    conn = open_store(data_dir)
    try:
        row = conn.execute("SELECT count(*), count(DISTINCT uidl) FROM messages").fetchone()
        return int(row[0]), int(row[1])
    finally:
        conn.close()


async def test_the_app_downloads_a_big_pop3_maildrop_and_nothing_twice(
    mail_servers: MailServers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # As in a fresh `tuimail` process, multiprocessing's resource tracker is not running yet
    # (a test before this one may have started it in this process).
    resource_tracker._resource_tracker._stop()
    user = mail_servers.add_user("bigpop")
    await asyncio.to_thread(
        mail_servers.deliver_many, user, map(numbered_message, range(1, COUNT + 1))
    )
    config = account_config(mail_servers, user, "pop3", mail_servers.pop3s_port)
    app = TuimailApp(config, tmp_path)
    events: list[Event] = []
    app_emit = app.bridge.emit

    def record(event: Event) -> None:
        events.append(event)
        app_emit(event)

    app.bridge.emit = record  # type: ignore[method-assign]

    def finished() -> list[Event]:
        return [e for e in events if isinstance(e, SyncFinished | SyncFailed)]

    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(finished()) == 1, seconds=300)
        first = finished()[0]
        assert isinstance(first, SyncFinished), first
        assert first.summary == f"first download: {COUNT} messages"  # not "0 new"
        await wait_for(pilot, lambda: len(table.ids) == COUNT)
        assert _stored(tmp_path) == (COUNT, COUNT)

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(finished()) == 2, seconds=120)
        second = finished()[1]
        assert isinstance(second, SyncFinished), second
        assert "no new messages" in second.summary
        assert _stored(tmp_path) == (COUNT, COUNT)
        assert len(table.ids) == COUNT

        # "parse" is only in the bodies: found once the app has indexed them behind the fetch.
        await wait_for(pilot, lambda: not reindex.behind(app.conn), seconds=120)
        await pilot.press("slash", *"parse", "enter")
        await wait_for(pilot, lambda: f"{COUNT} found for 'parse'" in app.screen.sub_title)
        assert len(table.ids) == COUNT
        await pilot.press("escape")
        await pilot.press("slash", *"1234", "enter")
        await wait_for(pilot, lambda: "1 found for '1234'" in app.screen.sub_title)
    # The messages were stored by the writer process and parsed in the worker processes, not
    # inline after a failed start.
    assert COUNT >= WRITER_MESSAGES
    assert not [
        r
        for r in caplog.records
        if r.name in ("tuimail.store.indexer", "tuimail.store.ingest_process")
    ]
