"""The key bar: composed again when the keys it shows change with the focus, once per change,
and not when they stay the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Footer as TextualFooter

from tests.support.demo_app import NOW, DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.ui.widgets.footer import Footer
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView


class Counted:
    """How often a footer composed its keys."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.composed = 0
        compose = TextualFooter.compose

        def counted(footer):  # type: ignore[no-untyped-def]
            self.composed += 1
            return compose(footer)

        monkeypatch.setattr(TextualFooter, "compose", counted)


def _keys(footer: Footer) -> str:
    return " ".join(str(key.render()) for key in footer.children)


async def test_opening_a_message_and_going_back_composes_the_keys_once_per_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    counted = Counted(monkeypatch)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(0.3)
        footer = app.screen.query_one(Footer)
        shown = _keys(footer)
        assert "Quit" in shown and "Compose" in shown
        counted.composed = 0
        for _ in range(3):
            await pilot.press("enter")
            await pilot.pause(0.1)
            assert app.screen.focused is app.screen.query_one(MessageView)
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert app.screen.focused is app.screen.query_one(MessageList)
            assert _keys(footer) == shown
        # The view's keys are not the list's (q goes back there): each way the keys change
        # once, and are composed once (Textual's own footer composes them twice each time).
        assert counted.composed == 2 * 3, "the keys were composed more often than they changed"


class Pane(Widget, can_focus=True):
    """A focusable pane; the second one has a key of its own shown in the footer."""

    DEFAULT_CSS = "Pane { height: 3; }"


class ExtraPane(Pane):
    BINDINGS = [Binding("x", "extra", "Extra key")]

    def action_extra(self) -> None:
        pass


class TwoPanes(App[None]):
    def compose(self) -> ComposeResult:
        yield Pane(id="plain")
        yield ExtraPane(id="extra")
        yield Footer()


async def test_the_keys_follow_the_focus_when_they_change() -> None:
    app = TwoPanes()
    async with app.run_test(size=(80, 12)) as pilot:
        footer = app.screen.query_one(Footer)
        app.screen.query_one("#plain").focus()
        await pilot.pause(0.1)
        assert "Extra key" not in _keys(footer)
        app.screen.query_one("#extra").focus()
        await pilot.pause(0.1)
        assert "Extra key" in _keys(footer)
        app.screen.query_one("#plain").focus()
        await pilot.pause(0.1)
        assert "Extra key" not in _keys(footer)
