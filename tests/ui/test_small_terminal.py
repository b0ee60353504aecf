"""80x24: every screen usable. The composer folds Cc and Bcc away while they are empty (ctrl+n
shows them), so its text gets most of the rows."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, TextArea

from tests.support.demo_app import DemoStore, demo_app
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.widgets.message_list import MessageList


async def test_the_composer_gives_the_text_most_rows_at_80x24(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = demo_app(demo_store(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ComposerScreen)
        cc, bcc = screen.query_one("#cc", Input), screen.query_one("#bcc", Input)
        assert not cc.display and not bcc.display
        body = screen.query_one(TextArea)
        assert body.size.height >= 16  # of 24 rows: the text's, inside its border
        await pilot.press(*"bob@example.org", "tab")
        assert screen.focused is screen.query_one("#subject", Input)  # Cc, Bcc skipped
        await pilot.press("ctrl+n", *"carol@example.org")
        await pilot.pause()
        assert cc.display and bcc.display and cc.value == "carol@example.org"
        assert body.size.height >= 14  # still most rows with every field shown


async def test_a_reply_to_all_shows_its_cc(tmp_path: Path, demo_store: DemoStore) -> None:
    app = demo_app(demo_store(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        messages.focus()
        # A message with more than one recipient: the reply to all has a Cc.
        for _ in range(40):
            screen = app.screen
            await pilot.press("R")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ComposerScreen)
            if screen.query_one("#cc", Input).value:
                assert screen.query_one("#cc", Input).display
                return
            await pilot.press("escape")
            await pilot.pause()
            if not isinstance(app.screen, type(messages.screen)):
                await pilot.press("d")  # discard the unchanged reply if asked
                await pilot.pause()
            await pilot.press("down")
        raise AssertionError("no message in the demo has a Cc in its reply to all")
