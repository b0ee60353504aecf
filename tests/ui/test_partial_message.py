"""The app on a message of which only the text is local: the view, saving (which waits for the
whole message) and opening an attachment with the system's opener; and on one of which nothing
is local yet (the app is asked to download it)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

from textual import on
from textual.pilot import Pilot

from tests.support.demo_app import DemoStore
from tuimail import ui
from tuimail.app.application import TuimailApp
from tuimail.app.demo import DEMO_ACCOUNT, demo_config
from tuimail.config.schema import UiConfig
from tuimail.mail import attachments
from tuimail.mail.attachments import OmittedPart
from tuimail.mail.parse import parse_message
from tuimail.store import read, write
from tuimail.store.db import open_store
from tuimail.ui.messages import BodyWanted, StoreUpdated
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PDF_NAME = "Übersicht 2026.pdf"


def _make_partial(data_dir: Path) -> tuple[int, bytes]:
    """Turn the demo's message with the PDF into a partial one, as opening it over IMAP leaves
    it: the attachment's body emptied, its exact bytes gone. Returns (id, the full bytes)."""
    conn = open_store(data_dir)
    try:
        (message_id,) = [
            row[0]
            for row in conn.execute("SELECT id FROM messages WHERE has_attachments = 1")
            if any(
                a.filename == PDF_NAME
                for a in parse_message(read.body(conn, row[0]) or b"").attachments
            )
        ]
        full = read.body(conn, message_id)
        assert full is not None
        msg = BytesParser(policy=policy.default).parsebytes(full)
        sections = attachments._imap_sections(msg)
        omitted = []
        for part in msg.walk():
            if part.get_filename() == PDF_NAME:
                encoded = part.get_payload()
                omitted.append(OmittedPart(sections[id(part)], "application/pdf", PDF_NAME,
                                           len(encoded)))  # fmt: skip
                part.set_payload("")
        conn.execute("DELETE FROM bodies WHERE message_id = ?", (message_id,))
        conn.execute("UPDATE messages SET body_local = 0 WHERE id = ?", (message_id,))
        conn.commit()
        write.store_partial_body(conn, message_id, msg.as_bytes(), omitted)
        return message_id, full
    finally:
        conn.close()


def _app(data_dir: Path, opener: str | None = None) -> TuimailApp:
    config = dataclasses.replace(demo_config(), ui=UiConfig(opener=opener))
    return TuimailApp(config, data_dir, clock=lambda: NOW, start_workers=False)


async def _open_pdf_message(app: TuimailApp, pilot: Pilot[int], message_id: int) -> None:
    await pilot.pause()
    messages = app.screen.query_one(MessageList)
    messages.focus()
    for _ in range(len(messages.ids)):
        if messages.current_message_id == message_id:
            break
        await pilot.press("down")
    assert messages.current_message_id == message_id
    await pilot.press("enter")
    await pilot.pause()


def _view_text(app: TuimailApp) -> str:
    return str(app.screen.query_one("#view-body").render())


def _arrive(data_dir: Path, app: TuimailApp, message_id: int, full: bytes) -> None:
    """What the body worker does when the server sent the whole message."""
    conn = open_store(data_dir)
    try:
        write.store_body(conn, message_id, full)
        row = read.row(conn, message_id)
        assert row is not None
        app.screen.post_message(StoreUpdated((row.folder_id,)))
    finally:
        conn.close()


async def test_a_partial_message_is_shown_with_its_attachment_not_downloaded(
    tmp_path: Path,
    demo_store: DemoStore,
) -> None:
    data_dir = tmp_path / "store"
    demo_store(data_dir)
    message_id, _ = _make_partial(data_dir)
    app = _app(data_dir)
    wanted: list[BodyWanted] = []
    async with app.run_test(size=(120, 40), message_hook=_recorder(wanted)) as pilot:
        await _open_pdf_message(app, pilot, message_id)
        text = _view_text(app)
        assert f"[attachment] {PDF_NAME} (5.5 KB) (not downloaded)" in text
        assert "Downloading the message" not in text
        assert not [m for m in wanted if m.message_id == message_id]  # the text is local


def _recorder(wanted: list[BodyWanted]):  # type: ignore[no-untyped-def]
    def hook(message: object) -> None:
        # A message is seen once per node it bubbles through: keep each one once.
        if isinstance(message, BodyWanted) and all(message is not m for m in wanted):
            wanted.append(message)

    return hook


async def test_saving_from_a_partial_message_waits_for_the_whole_message(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    data_dir = tmp_path / "store"
    demo_store(data_dir)
    message_id, full = _make_partial(data_dir)
    target = tmp_path / "saved"
    target.mkdir()
    app = _app(data_dir)
    wanted: list[BodyWanted] = []
    async with app.run_test(size=(120, 40), message_hook=_recorder(wanted)) as pilot:
        await _open_pdf_message(app, pilot, message_id)
        await pilot.press("a")
        await pilot.pause()
        app.screen.query_one("#answer").value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert [(m.message_id, m.full) for m in wanted] == [(message_id, True)]
        assert list(target.iterdir()) == []  # nothing yet: the attachment is on the server
        entry = app.screen.query_one(StatusBar).entry(DEMO_ACCOUNT)
        assert entry is not None and "downloading the attachments" in entry[1]
        _arrive(data_dir, app, message_id, full)
        for _ in range(200):  # the view follows the store update; wait for it, boundedly
            await pilot.pause(0.05)
            if "(not downloaded)" not in _view_text(app) and list(target.iterdir()):
                break
        assert "(not downloaded)" not in _view_text(app)
    assert [p.name for p in target.iterdir()] == [PDF_NAME]
    assert (target / PDF_NAME).read_bytes() == b"%PDF-1.4 demo\n" * 400


async def test_an_attachment_opens_with_the_configured_opener(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    data_dir = tmp_path / "store"
    demo_store(data_dir)
    message_id, full = _make_partial(data_dir)
    record = tmp_path / "opened.txt"
    script = tmp_path / "opener.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{record}.part" && mv "{record}.part" '
                      f'"{record}"\n')  # fmt: skip
    script.chmod(0o700)
    app = _app(data_dir, opener=str(script))
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_pdf_message(app, pilot, message_id)
        await pilot.press("O")  # one attachment: no question; the whole message is wanted
        await pilot.pause()
        assert not record.exists()
        _arrive(data_dir, app, message_id, full)
        for _ in range(200):  # the opener runs in a worker; wait for it, boundedly
            await pilot.pause(0.05)
            if record.exists():
                break
    opened = Path(record.read_text())
    assert opened.name == PDF_NAME
    assert opened.read_bytes() == b"%PDF-1.4 demo\n" * 400
    assert opened.parent.stat().st_mode & 0o777 == 0o700
    assert opened.parent != tmp_path and "tuimail-open-" in opened.parent.name


async def test_a_missing_opener_gives_a_clear_notice(tmp_path: Path, demo_store: DemoStore) -> None:
    data_dir = tmp_path / "store"
    demo_store(data_dir)
    message_id, full = _make_partial(data_dir)
    conn = open_store(data_dir)
    write.store_body(conn, message_id, full)  # local already: no download first
    conn.close()
    app = _app(data_dir, opener=str(tmp_path / "no-such-opener"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_pdf_message(app, pilot, message_id)
        await pilot.press("O")
        for _ in range(200):
            await pilot.pause(0.05)
            if app._notifications:
                break
        notices = [str(n.message) for n in app._notifications]
    assert any("no-such-opener" in n and "is not installed" in n for n in notices), notices


async def test_forwarding_a_partial_message_as_attachment_waits_for_the_whole_message(
    tmp_path: Path,
    demo_store: DemoStore,
) -> None:
    from tuimail.ui.screens.composer import ComposerScreen
    from tuimail.ui.screens.main import MainScreen

    data_dir = tmp_path / "store"
    demo_store(data_dir)
    message_id, full = _make_partial(data_dir)
    app = _app(data_dir)
    wanted: list[BodyWanted] = []
    async with app.run_test(size=(120, 40), message_hook=_recorder(wanted)) as pilot:
        await _open_pdf_message(app, pilot, message_id)
        app.screen.query_one(MessageList).focus()
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert [(m.message_id, m.full) for m in wanted] == [(message_id, True)]
        assert isinstance(app.screen, MainScreen), "no composer before the bytes are here"
        _arrive(data_dir, app, message_id, full)
        for _ in range(200):  # the composer opens once the store update is handled
            await pilot.pause(0.05)
            if isinstance(app.screen, ComposerScreen):
                break
        assert isinstance(app.screen, ComposerScreen)
        assert app.screen.attached_messages == [message_id]


class _BodyRequests(TuimailApp):
    """The app, noting each BodyWanted it handles itself (Textual runs every class's handlers)."""

    CSS_PATH = str(Path(ui.__file__).parent / "tuimail.tcss")  # relative paths follow the class

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.body_requests: list[tuple[int, bool]] = []

    @on(BodyWanted)
    def _note_body_wanted(self, message: BodyWanted) -> None:
        self.body_requests.append((message.message_id, message.full))


async def test_opening_a_message_without_its_body_asks_the_app_to_download_it(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    data_dir = tmp_path / "store"
    demo_store(data_dir)
    message_id, _ = _make_partial(data_dir)
    conn = open_store(data_dir)
    try:  # nothing of it is local now: as a new message over IMAP is before it is opened
        conn.execute("DELETE FROM partial_bodies WHERE message_id = ?", (message_id,))
        conn.commit()
    finally:
        conn.close()
    app = _BodyRequests(demo_config(), data_dir, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_pdf_message(app, pilot, message_id)
        assert "Downloading the message" in _view_text(app)
        # The request reaches the app (which downloads it), not only the screen.
        assert (message_id, False) in app.body_requests
