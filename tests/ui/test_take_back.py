"""Undo send: a message taken back from the outbox is a draft from that moment, attachments
included, whatever the user then does with the composer (escape, a crash). No network here: the
app's workers are off; tests/integration/test_app_mail.py sends the draft to a real server."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, Static

from tests.support.demo_app import DEMO_SENDER_CONFIG, DemoStore, demo_app
from tests.support.terminal import ROOT, PtyApp
from tuimail.app.application import TuimailApp
from tuimail.core.crashpoint import CRASH_EXIT_CODE, ENV_VAR, KNOWN_CRASHPOINTS
from tuimail.core.model import Address, Draft
from tuimail.mail.compose import compose
from tuimail.store import drafts, outbox, outbox_history, read
from tuimail.store.db import open_store
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.drafts import DraftsScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.screens.prompt import LinePrompt
from tuimail.ui.widgets.folder_pane import DRAFTS

PAYLOAD = os.urandom(200_000) + b"\x00\r\n\xff end"


@pytest.fixture
def app(tmp_path: Path, demo_store: DemoStore) -> TuimailApp:
    return demo_app(demo_store(tmp_path / "data"))


def _attachments(raw: bytes) -> list[tuple[str | None, str, bytes]]:
    parsed = message_from_bytes(raw, policy=policy.default)
    return [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in parsed.iter_attachments()
    ]


async def _write_and_send(pilot, attachment: Path, *, later: bool = False) -> None:  # type: ignore[no-untyped-def]
    """c, bob, a subject, a body and an attachment (ctrl+t), then ctrl+s (or ctrl+l +2h)."""
    app = pilot.app
    await pilot.press("c")
    await pilot.pause()
    assert isinstance(app.screen, ComposerScreen)
    await pilot.press(*"bob@example.org", "tab", *"take me back", "tab")
    await pilot.press(*"Hello Bob.", "enter")
    await pilot.press("ctrl+t")
    await pilot.pause()
    assert isinstance(app.screen, LinePrompt)
    app.screen.query_one(Input).value = str(attachment)
    await pilot.press("enter")
    await pilot.pause()
    if later:
        await pilot.press("ctrl+l")
        await pilot.pause()
        await pilot.press("plus", "2", "h", "enter")
    else:
        await pilot.press("ctrl+s")
    await pilot.pause()
    assert isinstance(app.screen, MainScreen)


async def _open_drafts_view(pilot) -> None:  # type: ignore[no-untyped-def]
    folders = pilot.app.screen.query_one("#folders", OptionList)
    folders.focus()
    folders.highlighted = folders.get_option_index(DRAFTS)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, DraftsScreen)


@pytest.mark.parametrize("later", [False, True], ids=["undo-send", "send-later"])
async def test_take_back_then_escape_keeps_the_message_as_a_draft_with_its_attachment(
    app: TuimailApp, tmp_path: Path, later: bool
) -> None:
    attachment = tmp_path / "report.pdf"
    attachment.write_bytes(PAYLOAD)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _write_and_send(pilot, attachment, later=later)
        (item,) = outbox.items(app.conn)
        sent_before = _attachments(outbox.raw_message(app.conn, item.id))
        assert sent_before == [("report.pdf", "application/pdf", PAYLOAD)]
        attachment.unlink()  # the file is gone: only the queued message holds its bytes

        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        await pilot.press("e")
        await pilot.pause()
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        assert "report.pdf" in str(composer.query_one("#attachments", Static).render())
        assert not any("not taken back" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)  # nothing was changed: closed, kept

        assert outbox.items(app.conn) == []
        assert outbox_history.history(app.conn, item.id) == []
        (kept,) = drafts.live(app.conn)
        assert kept.message_id == item.message_id
        assert kept.draft.subject == "take me back"
        assert [a.email for a in kept.draft.to] == ["bob@example.org"]
        (part,) = drafts.stored_part_bodies(app.conn, kept.draft)
        assert (part.filename, part.content_type, part.data) == (
            "report.pdf",
            "application/pdf",
            PAYLOAD,
        )

        # The Drafts view lists it and reopens it with its attachment; sent again, the
        # attachment goes out byte for byte.
        await _open_drafts_view(pilot)
        await pilot.press("enter")
        await pilot.pause()
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        assert composer.draft_id == kept.id
        assert composer.query_one("#subject", Input).value == "take me back"
        assert "report.pdf" in str(composer.query_one("#attachments", Static).render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        (again,) = outbox.items(app.conn)
        assert again.message_id == item.message_id
        assert _attachments(outbox.raw_message(app.conn, again.id)) == sent_before
        assert drafts.live(app.conn) == []
        assert app.conn.execute("SELECT count(*) FROM draft_parts").fetchone() == (0,)


async def test_a_dropped_attachment_leaves_the_taken_back_draft(
    app: TuimailApp, tmp_path: Path
) -> None:
    attachment = tmp_path / "notes.txt"
    attachment.write_bytes(b"notes\n")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _write_and_send(pilot, attachment)
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        await pilot.press("ctrl+b")  # drop the last attachment
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("k")  # keep as draft
        await pilot.pause()
        (kept,) = drafts.live(app.conn)
        assert kept.draft.stored_parts == ()
        assert app.conn.execute("SELECT count(*) FROM draft_parts").fetchone() == (0,)


CRASH_CONFIG = DEMO_SENDER_CONFIG.replace("port = 9\n", "port = 9\nundo_send_seconds = 3600\n")


def test_a_crash_while_taking_back_leaves_the_message_queued(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """The outbox row's deletion and the draft's creation are one transaction: the app killed
    between the two (at the crash point) leaves the message queued, not lost."""
    assert "outbox.taken_back" in KNOWN_CRASHPOINTS
    data = tmp_path / "data"
    demo_store(data)
    config = tmp_path / "config.toml"
    config.write_text(CRASH_CONFIG)
    conn = open_store(data)
    try:
        account_id = read.account_id(conn, "demo")
        assert account_id is not None
        draft = Draft(
            from_=Address("Demo User", "you@demo.invalid"),
            to=(Address("", "bob@example.org"),),
            subject="do not lose me",
            body="text\n",
        )
        raw = compose(draft, message_id="<keep-1@demo.invalid>")
        item_id = outbox.enqueue(
            conn,
            account_id,
            raw,
            message_id="keep-1@demo.invalid",
            env_from="you@demo.invalid",
            env_rcpts=["bob@example.org"],
            not_before=datetime.now(UTC) + timedelta(hours=1),
        )
    finally:
        conn.close()

    argv = [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data)]
    env = {"PYTHONPATH": str(ROOT), ENV_VAR: "outbox.taken_back"}
    terminal = PtyApp(argv, env=env)
    try:
        terminal.wait_for_text("Compose")
        terminal.send(b"o")
        terminal.wait_for_text("do not lose me")
        terminal.send(b"e", settle=0)
        assert terminal.process.wait(timeout=30) == CRASH_EXIT_CODE
    finally:
        terminal.close()

    conn = open_store(data)
    try:
        item = outbox.get(conn, item_id)
        assert item is not None and item.state is outbox.OutboxState.QUEUED
        assert outbox.raw_message(conn, item_id) == raw
        assert drafts.live(conn) == []
        assert conn.execute("SELECT count(*) FROM draft_parts").fetchone() == (0,)
    finally:
        conn.close()
