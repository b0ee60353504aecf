"""Opening a message: `j` and Enter typed together paint the cursor's move and the message it
opens in one frame; the list keeps its painted lines when the focus moves to the view and back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual import events
from textual.app import App

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.core.model import SEEN
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _app(data_dir: Path) -> TuimailApp:
    return TuimailApp(demo_config(), data_dir, clock=lambda: NOW, start_workers=False)


async def test_j_and_enter_together_paint_the_cursor_move_with_the_message_it_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    frames: list[tuple[int, int | None]] = []  # per frame: the list's cursor, the view's message
    display = App._display

    def recorded(app, screen, renderable):  # type: ignore[no-untyped-def]
        if renderable is not None and isinstance(screen, MainScreen) and screen.is_mounted:
            cursor = screen.query_one(MessageList).cursor
            frames.append((cursor, screen.query_one(MessageView).shown_id))
        return display(app, screen, renderable)

    monkeypatch.setattr(App, "_display", recorded)
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)  # the cursor rests on the first message: it is shown
        messages = app.screen.query_one(MessageList)
        assert messages.cursor == 0
        target = messages.ids[1]
        frames.clear()
        # Both keys in one read from the terminal, as when typed quickly (or sent together).
        app.post_message(events.Key("j", "j"))
        app.post_message(events.Key("enter", "\r"))
        await pilot.pause(0.3)
        moved = [shown for cursor, shown in frames if cursor == 1]
        assert moved, "the cursor's move was never painted"
        assert moved[0] == target, "the cursor's move was painted before the message it opens"
        assert app.screen.focused is app.screen.query_one(MessageView)


async def test_the_list_keeps_its_painted_lines_when_the_focus_moves_to_the_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    painted: list[int] = []
    paint = MessageList._paint

    def counted_paint(messages, index, width, selected):  # type: ignore[no-untyped-def]
        painted.append(index)
        return paint(messages, index, width, selected)

    monkeypatch.setattr(MessageList, "_paint", counted_paint)
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        messages = app.screen.query_one(MessageList)
        # A message read already: opening an unread one marks it read, which repaints its
        # line and those of its conversation.
        rows = [messages.row_at(i) for i in range(len(messages.ids))]
        index = next(i for i, row in enumerate(rows) if row is not None and SEEN in row.flags)
        for _ in range(index):
            await pilot.press("j")
        await pilot.pause(0.3)
        painted.clear()
        await pilot.press("enter")  # opens the message: the focus moves to the view
        await pilot.pause(0.3)
        assert app.screen.focused is app.screen.query_one(MessageView)
        assert set(painted) == {index}, "lines other than the cursor's were painted again"
        painted.clear()
        await pilot.press("escape")  # and back to the list
        await pilot.pause(0.3)
        assert app.screen.focused is messages
        assert set(painted) == {index}


async def test_opening_an_unread_message_repaints_its_line_alone_now_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    painted: list[int] = []
    paint = MessageList._paint

    def counted_paint(messages, index, width, selected):  # type: ignore[no-untyped-def]
        painted.append(index)
        return paint(messages, index, width, selected)

    monkeypatch.setattr(MessageList, "_paint", counted_paint)
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        messages = app.screen.query_one(MessageList)
        rows = [messages.row_at(i) for i in range(len(messages.ids))]
        index = next(i for i, row in enumerate(rows) if row is not None and SEEN not in row.flags)
        for _ in range(index):
            await pilot.press("j")
        await pilot.pause(0.3)
        assert messages.render_line(index).text.startswith(
            "●"
        )  # unread (the top of the list is shown)
        painted.clear()
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert set(painted) == {index}, "lines of messages that did not change were painted again"
        row = messages.row_at(index)
        assert row is not None and SEEN in row.flags
        assert not messages.render_line(index).text.startswith("●")  # shown read


async def test_the_frame_that_opens_a_message_lays_it_out_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    heights: list[tuple[int | None, int]] = []  # per frame: the view's message, its body's height
    display = App._display

    def recorded(app, screen, renderable):  # type: ignore[no-untyped-def]
        if renderable is not None and isinstance(screen, MainScreen) and screen.is_mounted:
            view = screen.query_one(MessageView)
            heights.append((view.shown_id, view.query_one("#view-body").size.height))
        return display(app, screen, renderable)

    monkeypatch.setattr(App, "_display", recorded)
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        messages = app.screen.query_one(MessageList)
        # The second message's body is not as tall as the first's (the welcome message).
        target = messages.ids[1]
        heights.clear()
        app.post_message(events.Key("j", "j"))
        app.post_message(events.Key("enter", "\r"))
        await pilot.pause(0.3)
        settled = app.screen.query_one(MessageView).query_one("#view-body").size.height
        first = next(height for shown, height in heights if shown == target)
        assert first == settled, "the message was first painted in the previous one's height"
