"""Key bindings: every remappable binding has an id the config knows, and [keys] remaps it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.binding import Binding

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.config.schema import KEY_ACTIONS
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.widgets.folder_pane import FolderPane
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.pager import Pager

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_binding_ids_are_exactly_the_configurable_actions() -> None:
    ids = [
        binding.id
        for owner in (
            TuimailApp,
            MainScreen,
            MessageList,
            FolderPane,
            Pager,
            ComposerScreen,
            OutboxScreen,
        )
        for binding in owner.BINDINGS
        if isinstance(binding, Binding) and binding.id
    ]
    assert sorted(ids) == sorted(KEY_ACTIONS)


async def test_keys_from_the_config_replace_the_defaults(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    config = parse_config(
        '[accounts.demo]\naddress = "you@demo.invalid"\n'
        '[accounts.demo.smtp]\nhost = "127.0.0.1"\nsecurity = "none"\n'
        '[keys]\ncompose = "m"\ndown = "n"\n'
    )
    app = TuimailApp(config, tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("n")
        assert messages.cursor == 1
        await pilot.press("j")  # no longer bound
        assert messages.cursor == 1
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)


def test_help_shows_the_keys_in_force() -> None:
    from tuimail.ui.screens.help import binding_rows

    rows = dict(binding_rows(MainScreen.BINDINGS, keymap={"compose": "m,ctrl+n"}))
    assert rows["m, ctrl+n"] == "Compose"
    assert "c" not in rows
