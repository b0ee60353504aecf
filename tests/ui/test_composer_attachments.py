"""Sending from the composer with an attachment: the file is streamed into the outbox row, and a
file that goes away before it is sent is reported, with nothing queued."""

from __future__ import annotations

import os
import random
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from textual.widgets import Input, Static, TextArea
from textual.widgets._toast import Toast

from tests.support.demo_app import DEMO_SENDER_CONFIG, NOW, DemoStore
from tests.support.pilot import type_into
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.core.model import FolderRole
from tuimail.store import drafts, outbox
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList


@pytest.fixture
def app(tmp_path: Path, demo_store: DemoStore) -> TuimailApp:
    demo_store(tmp_path / "data")
    return TuimailApp(
        parse_config(DEMO_SENDER_CONFIG), tmp_path / "data", clock=lambda: NOW, start_workers=False
    )


async def _compose_with(pilot, attachment: Path) -> ComposerScreen:  # type: ignore[no-untyped-def]
    await pilot.press("c")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ComposerScreen)
    await type_into(pilot, "#to", "ann@example.org")
    await type_into(pilot, "#subject", "the file")
    await type_into(pilot, "#body", "Attached.\n")
    screen.attachments.append(str(attachment))  # what action_attach adds after its prompt
    return screen


async def test_the_attachment_is_streamed_into_the_outbox(app: TuimailApp, tmp_path: Path) -> None:
    attachment = tmp_path / "report.pdf"
    attachment.write_bytes(os.urandom(3 * 1024 * 1024 + 7))  # more than one chunk
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _compose_with(pilot, attachment)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        (item,) = outbox.items(app.conn)
        raw = outbox.raw_message(app.conn, item.id)
    parsed = message_from_bytes(raw, policy=policy.default)
    [part] = parsed.iter_attachments()
    assert part.get_filename() == "report.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_payload(decode=True) == attachment.read_bytes()


async def test_an_attachment_gone_before_sending_is_reported(
    app: TuimailApp, tmp_path: Path
) -> None:
    attachment = tmp_path / "gone.txt"
    attachment.write_text("soon gone")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await _compose_with(pilot, attachment)
        attachment.unlink()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen  # the composer stays open, with what was written
        assert outbox.items(app.conn) == []
        assert any("gone.txt" in str(n.message) for n in app._notifications)


# --- forwarding inline (f) carries the original's attachments -----------------------------


def _original_with_attachments() -> bytes:
    """A message with three attachments: a binary file with a non-ASCII name, a text file in
    Latin-1 with mixed line ends, and a picture."""
    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.org>"
    msg["To"] = "you@demo.invalid"
    msg["Subject"] = "the files"
    msg["Message-ID"] = "<files@example.org>"
    msg.set_content("Here they are.\n")
    msg.add_attachment(
        bytes(range(256)) * 40, maintype="application", subtype="pdf", filename="Übersicht.pdf"
    )
    msg.add_attachment(
        "caf\xe9\r\nline\n".encode("latin-1"),
        maintype="text",
        subtype="plain",
        filename="notes.txt",
        params={"charset": "iso-8859-1"},
    )
    picture = b"\x89PNG\r\n\x1a\n" + random.Random(9).randbytes(500)
    msg.add_attachment(picture, maintype="image", subtype="png", filename="pic.png")
    return msg.as_bytes()


def _attachments(raw: bytes) -> list[tuple[str | None, str, str | None, bytes]]:
    parsed = message_from_bytes(raw, policy=policy.default)
    return [
        (
            part.get_filename(),
            part.get_content_type(),
            part.get_param("charset") if part.get_content_maintype() == "text" else None,
            part.get_payload(decode=True),
        )
        for part in parsed.iter_attachments()
    ]


@pytest.fixture
def forwarding_app(tmp_path: Path) -> TuimailApp:
    conn = open_store(tmp_path / "data")
    try:
        account = ensure_account(conn, "demo", None)
        inbox = upsert_folder(conn, account, "INBOX", delimiter="/", role=FolderRole.INBOX)
        store_messages(conn, inbox, [IncomingMessage(raw=_original_with_attachments())])
    finally:
        conn.close()
    return TuimailApp(
        parse_config(DEMO_SENDER_CONFIG), tmp_path / "data", clock=lambda: NOW, start_workers=False
    )


async def test_forward_carries_the_attachments_unchanged(forwarding_app: TuimailApp) -> None:
    app = forwarding_app
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(MessageList).focus()
        await pilot.press("f")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ComposerScreen)
        shown = str(screen.query_one("#attachments", Static).render())
        assert shown == "Attachments: Übersicht.pdf, notes.txt, pic.png"
        assert "not included" not in screen.query_one("#body", TextArea).text
        await type_into(pilot, "#to", "bob@example.org")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        (item,) = outbox.items(app.conn)
        raw = outbox.raw_message(app.conn, item.id)
    assert _attachments(raw) == _attachments(_original_with_attachments())


async def test_a_carried_attachment_can_be_dropped_and_the_draft_keeps_the_rest(
    forwarding_app: TuimailApp,
) -> None:
    app = forwarding_app
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(MessageList).focus()
        await pilot.press("f")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ComposerScreen)
        await pilot.press("ctrl+b")  # three attachments: which one?
        await pilot.pause()
        prompt = app.screen.query_one("#answer", Input)
        assert "1) Übersicht.pdf  2) notes.txt  3) pic.png" in str(
            app.screen.query_one(Static).render()
        )
        prompt.value = "2"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        shown = str(screen.query_one("#attachments", Static).render())
        assert shown == "Attachments: Übersicht.pdf, pic.png"
        await type_into(pilot, "#to", "bob@example.org")
        await pilot.press("ctrl+g")  # kept as a draft: the carried attachments with it
        await pilot.pause()
        (stored,) = drafts.live(app.conn)
        raw = drafts.compose_draft(app.conn, stored.draft).as_bytes()
    expected = _attachments(_original_with_attachments())
    assert _attachments(raw) == [expected[0], expected[2]]


async def test_a_path_that_is_no_file_is_named_as_typed(app: TuimailApp, tmp_path: Path) -> None:
    """ctrl+t, then a path that does not exist: the notice names it literally, even where it
    looks like markup."""
    missing = tmp_path / "[b]draft[/b] [/red].txt"
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.press(*str(missing), "enter")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen) and app.screen.attachments == []
        # What the notice's toast shows (markup would eat the brackets, or fail on "[/red]").
        shown = [Toast(notice).render().plain for notice in app._notifications]
        assert f"No such file: {missing}" in shown, shown
