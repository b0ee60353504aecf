"""The message view renders a body once: shown again unchanged (the cursor resting on it after
Enter, a store update that did not change it) it is neither rendered nor laid out again; what is
shown follows the body's bytes and the theme's quote colours."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Static

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.core.model import FLAGGED
from tuimail.store import ops, read, write
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.ui.messages import StoreUpdated
from tuimail.ui.widgets import message_view
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
QUOTED = (
    b"From: Quoting Person <q@example.org>\r\nTo: you@demo.invalid\r\n"
    b"Subject: Quoting you\r\nDate: 22 Nov 2026 11:59:00 +0000\r\n"
    b"Message-ID: <quoting@example.org>\r\n\r\nMy answer.\r\n\r\n> What you wrote.\r\n"
)


def _app(data_dir: Path) -> TuimailApp:
    return TuimailApp(demo_config(), data_dir, clock=lambda: NOW, start_workers=False)


def _inbox(conn) -> read.FolderInfo:  # type: ignore[no-untyped-def]
    return next(f for f in read.folders(conn) if f.name == "INBOX")


def _view_body(app: TuimailApp) -> str:
    return str(app.screen.query_one("#view-body", Static).render())


class Renders:
    """How often the view rendered a body, and updated its two parts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bodies = 0
        self.raws: list[bytes] = []  # what was rendered
        self.updates: list[str] = []
        message_pieces = message_view.message_pieces
        update = Static.update

        def counted_render(parsed, raw, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.bodies += 1
            self.raws.append(raw)
            return message_pieces(parsed, raw, *args, **kwargs)

        def counted_update(static, *args, **kwargs):  # type: ignore[no-untyped-def]
            if static.id in ("view-headers", "view-body"):
                self.updates.append(static.id)
            return update(static, *args, **kwargs)

        monkeypatch.setattr(message_view, "message_pieces", counted_render)
        monkeypatch.setattr(Static, "update", counted_update)

    def reset(self) -> None:
        self.bodies = 0
        self.raws.clear()
        self.updates.clear()


async def test_a_message_shown_again_unchanged_is_not_rendered_nor_laid_out_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    renders = Renders(monkeypatch)
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        messages = app.screen.query_one(MessageList)
        renders.reset()
        await pilot.press("j", "enter")
        chosen = messages.current_message_id
        assert chosen is not None
        await pilot.pause(0.3)  # the cursor rests on it too: shown again, the same
        assert app.screen.query_one(MessageView).shown_id == chosen
        assert renders.bodies == 1
        shown = _view_body(app)
        renders.reset()

        # Flagged elsewhere: the screen shows the message again, which looks the same.
        conn = open_store(tmp_path)
        try:
            ops.enqueue(conn, ops.OpKind.FLAG, [chosen], flag=FLAGGED)
            folder_id = _inbox(conn).id
        finally:
            conn.close()
        app.screen.post_message(StoreUpdated((folder_id,)))
        await pilot.pause(0.3)
        assert renders.bodies == 0, "the unchanged body was rendered again"
        assert renders.updates == [], "the unchanged view was updated (and laid out) again"
        assert _view_body(app) == shown


async def test_the_message_below_a_resting_cursor_is_rendered_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    renders = Renders(monkeypatch)
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)  # the cursor rests on the first message
        messages = app.screen.query_one(MessageList)
        following = messages.ids[1]
        conn = open_store(tmp_path)
        try:
            raw = read.body(conn, following)
        finally:
            conn.close()
        assert renders.raws[-1] == raw  # rendered ahead, after the message shown
        renders.reset()
        await pilot.press("j", "enter")
        assert app.screen.query_one(MessageView).shown_id == following
        assert raw not in renders.raws, "the message opened was parsed and rendered only then"
        await pilot.pause(0.3)
        assert str(app.screen.query_one("#view-headers", Static).render()).count("Subject:") == 1


async def test_a_body_that_changed_is_rendered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        inbox = _inbox(conn)
        message_id = store_message(conn, inbox.id, raw=QUOTED)
    finally:
        conn.close()
    assert message_id is not None
    renders = Renders(monkeypatch)
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        messages = app.screen.query_one(MessageList)
        assert messages.current_message_id == message_id  # the newest: at the top
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert "My answer." in _view_body(app)
        renders.reset()

        # The same message, its bytes replaced (a server's copy taking the place of ours).
        conn = open_store(tmp_path)
        try:
            conn.execute("DELETE FROM bodies WHERE message_id = ?", (message_id,))
            conn.execute("UPDATE messages SET body_local = 0 WHERE id = ?", (message_id,))
            conn.commit()
            write.store_body(conn, message_id, QUOTED.replace(b"My answer.", b"My new answer."))
        finally:
            conn.close()
        app.screen.post_message(StoreUpdated((inbox.id,)))
        await pilot.pause(0.3)
        assert renders.bodies == 1
        assert "My new answer." in _view_body(app)


async def test_the_quote_colours_follow_the_theme_when_the_message_is_shown_again(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        message_id = store_message(conn, _inbox(conn).id, raw=QUOTED)
    finally:
        conn.close()
    assert message_id is not None
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        view = app.screen.query_one(MessageView)

        def quote_style() -> str:
            text = view.query_one("#view-body", Static).content
            assert isinstance(text, Text)
            start = text.plain.index("> What")
            return str(next(s.style for s in text.spans if s.start <= start < s.end))

        assert view.shown_id == message_id
        before = quote_style()
        assert before == app.theme_variables["quote-1"]
        themes = [name for name in app.available_themes if name != app.theme]
        for name in themes:
            app.theme = name
            await pilot.pause()
            if app.theme_variables.get("quote-1") not in (None, before):
                break
        else:
            pytest.skip("no other theme with another quote colour")
        view.show_message(message_id)
        assert quote_style() == app.theme_variables["quote-1"]


async def test_a_large_body_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    monkeypatch.setattr(message_view, "RENDERED_MAX_BYTES", 100)  # every demo message is larger
    renders = Renders(monkeypatch)
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        view = app.screen.query_one(MessageView)
        assert view.shown_id is not None
        assert view._rendered == {}
        renders.reset()
        view.show_message(view.shown_id)  # rendered again, and the view left as it is
        assert renders.bodies == 1
        assert renders.updates == []
