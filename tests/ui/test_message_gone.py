"""A message the list still shows goes from the store (another tuimail, a sync in another
process) before the user opens it, replies to it or forwards it: the view and a plain notice
say it is no longer in this folder; nothing opens and nothing is called an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from tests.support.demo_app import DemoStore, demo_app
from tuimail.app.application import TuimailApp
from tuimail.store.db import open_store
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MESSAGE_GONE


def _delete_elsewhere(data_dir: Path, message_id: int) -> None:
    """Another process takes the message from the store; this app hears nothing of it."""
    conn = open_store(data_dir)
    try:
        with conn:
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
    finally:
        conn.close()


@pytest.mark.parametrize("key", ["enter", "r", "f"])
async def test_a_message_gone_before_it_is_opened(
    tmp_path: Path, key: str, demo_store: DemoStore
) -> None:
    app: TuimailApp = demo_app(demo_store(tmp_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        highlighted = messages.current_message_id
        assert highlighted is not None
        _delete_elsewhere(tmp_path, highlighted)
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)  # no composer over a message that is not there
        notices = list(app._notifications)
        assert not [n for n in notices if n.severity == "error"], [n.message for n in notices]
        if key == "enter":
            assert MESSAGE_GONE in str(app.screen.query_one("#view-body", Static).render())
        else:
            assert [n.message for n in notices] == [MESSAGE_GONE]
