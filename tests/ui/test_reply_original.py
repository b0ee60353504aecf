"""A reply remembers the message it answers, through a saved draft and into the outbox, and
marks it only when it is sent (see tests/integration/test_app_sent_marks.py for the servers).
No network: the app's workers are off."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import OptionList

from tests.support.demo_app import DemoStore, demo_app
from tuimail.store import drafts, outbox, outbox_originals, read
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.drafts import DraftsScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList


async def test_a_reply_kept_as_a_draft_and_sent_later_still_answers_its_original(
    tmp_path: Path,
    demo_store: DemoStore,
) -> None:
    app = demo_app(demo_store(tmp_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(MessageList)
        table.focus()
        await pilot.press("down", "down")
        original = table.current_message_id
        assert original is not None
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("ctrl+g")  # kept as a draft
        await pilot.pause()
        (kept,) = drafts.live(app.conn)
        assert kept.draft.originals == ((original, "\\Answered"),)
        await pilot.press("escape")
        await pilot.pause()
        if not isinstance(app.screen, MainScreen):
            await pilot.press("k")  # keep it
            await pilot.pause()

        # Later: reopen it from Drafts and send it.
        folders = app.screen.query_one("#folders", OptionList)
        folders.focus()
        entries = [str(folders.get_option_at_index(i).prompt) for i in range(folders.option_count)]
        folders.highlighted = entries.index("  Drafts 1")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DraftsScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        (item,) = outbox.items(app.conn)
        assert outbox_originals.originals(app.conn, item.id) == ((original, "\\Answered"),)
        # Queued is not sent: the original is not marked yet.
        (row,) = read.rows(app.conn, [original])
        assert "\\Answered" not in row.flags
