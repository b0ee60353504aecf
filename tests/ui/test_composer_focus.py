"""The message list has the focus again after the composer, however it closes (sent, kept as a
draft, discarded) and wherever it was opened from (the list, the message view): as after mutt's
and aerc's composers, the list's keys work at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tests.support.demo_app import NOW
from tests.support.pager_mail import pager_store
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView


def _app(tmp_path: Path) -> TuimailApp:
    data_dir = tmp_path / "data"
    pager_store(data_dir)
    return TuimailApp(demo_config(), data_dir, clock=lambda: NOW, start_workers=False)


async def _open_first(app: TuimailApp, pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    assert app.focused is app.screen.query_one(MessageView)
    assert "Hello," in str(app.screen.query_one("#view-body", Static).render())


def _cursor(app: TuimailApp) -> int:
    return app.screen.query_one(MessageList).cursor


async def _write(pilot: Pilot[None]) -> None:
    await pilot.press(*"bob@example.org", "tab", *"hello", "tab", *"Some text.")
    await pilot.pause()


@pytest.mark.parametrize(
    "close",
    [
        ["ctrl+s"],  # sent (to the outbox)
        ["escape", "k"],  # kept as a draft
        ["escape", "d", "y"],  # discarded, after asking
    ],
    ids=["send", "keep-draft", "discard"],
)
@pytest.mark.parametrize("from_view", [True, False], ids=["from-view", "from-list"])
async def test_the_list_has_the_focus_after_the_composer(
    tmp_path: Path, close: list[str], from_view: bool
) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        if from_view:
            await _open_first(app, pilot)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await _write(pilot)
        for key in close:
            await pilot.press(key)
            await pilot.pause()
            if key == "d":
                assert isinstance(app.screen, Confirm)
        await pilot.pause()
        assert not isinstance(app.screen, ComposerScreen)
        assert app.focused is app.screen.query_one(MessageList)


async def test_the_list_has_the_focus_after_a_reply_from_the_view(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await _open_first(app, pilot)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.pause()
        assert app.focused is app.screen.query_one(MessageList)
        await pilot.press("j")  # the list's key: the cursor moves
        assert _cursor(app) == 1
