"""Sending from the composer with an attachment: the file is streamed into the outbox row, and a
file that goes away before it is sent is reported, with nothing queued."""

from __future__ import annotations

import os
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.ui.test_composer import CONFIG, NOW, _type
from tuimail.app import TuimailApp
from tuimail.config import parse_config
from tuimail.demo import build_demo_store
from tuimail.store import outbox
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen


@pytest.fixture
def app(tmp_path: Path) -> TuimailApp:
    build_demo_store(tmp_path / "data", now=NOW)
    return TuimailApp(
        parse_config(CONFIG), tmp_path / "data", clock=lambda: NOW, start_workers=False
    )


async def _compose_with(pilot, attachment: Path) -> ComposerScreen:  # type: ignore[no-untyped-def]
    await pilot.press("c")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ComposerScreen)
    await _type(pilot, "#to", "ann@example.org")
    await _type(pilot, "#subject", "the file")
    await _type(pilot, "#body", "Attached.\n")
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
