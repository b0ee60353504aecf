"""The composer's fields as a fast typist meets them: tabbing into a filled field keeps its text
(the cursor goes to the end), ctrl+z undoes and ctrl+y redoes, and keys typed quickly across Tab
or just before ctrl+g all land in the field they were typed into (on a real terminal, where
keys arrive faster than the app handles them)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import Input, TextArea

from tests.support.demo_app import DEMO_SENDER_CONFIG, DemoStore, demo_app
from tests.support.terminal import ROOT, PtyApp
from tuimail.app.application import TuimailApp
from tuimail.core.model import Address
from tuimail.store import drafts
from tuimail.store.db import open_store
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.widgets.message_list import MessageList


@pytest.fixture
def app(tmp_path: Path, demo_store: DemoStore) -> TuimailApp:
    return demo_app(demo_store(tmp_path / "data"))


def _value(app: TuimailApp, name: str) -> str:
    return app.screen.query_one(f"#{name}", Input).value


async def _open_composer(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("c")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ComposerScreen)


async def test_tabbing_into_a_filled_field_keeps_its_text_and_types_at_the_end(
    app: TuimailApp,
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _open_composer(pilot)
        await pilot.press(*"bob@example.org", "tab", *"Plans", "tab", *"Hi.")  # Cc, Bcc hidden
        await pilot.press("shift+tab", *" for May")  # back into Subject
        await pilot.press("shift+tab", *", ann@example.org")  # To
        await pilot.pause()
        assert _value(app, "to") == "bob@example.org, ann@example.org"
        assert _value(app, "subject") == "Plans for May"
        assert app.screen.query_one(TextArea).text == "Hi."


async def test_ctrl_z_undoes_and_ctrl_y_redoes_in_every_field(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _open_composer(pilot)
        await pilot.press(*"bob@example.org", "ctrl+n", *"cc@example.org", "tab", "tab")  # Cc shown
        await pilot.press(*"hello world")
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert _value(app, "subject") == "hello "  # a typed word is one step
        await pilot.press("ctrl+z")
        assert _value(app, "subject") == "hello"
        await pilot.press("ctrl+y", "ctrl+y")
        await pilot.pause()
        assert _value(app, "subject") == "hello world"
        await pilot.press("ctrl+w")  # delete a word: undone as one step
        assert _value(app, "subject") == "hello "
        await pilot.press("ctrl+z", *"!")
        await pilot.pause()
        assert _value(app, "subject") == "hello world!"  # the cursor came back to the end

        await pilot.press("shift+tab", "shift+tab", "ctrl+z")  # Cc
        await pilot.pause()
        assert _value(app, "cc") == ""
        await pilot.press("shift+tab", "ctrl+z")  # To
        await pilot.pause()
        assert _value(app, "to") == ""
        await pilot.press("ctrl+z")  # nothing more to undo: nothing happens
        assert _value(app, "to") == ""

        await pilot.press("tab", "tab", "tab", "tab", *"Body text")
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert app.screen.query_one(TextArea).text == ""


async def test_undo_stops_at_the_text_the_field_opened_with(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(MessageList).focus()
        await pilot.press("r")  # a reply: To and Subject filled in, the body focused
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        subject = _value(app, "subject")
        assert subject.startswith("Re: ")
        await pilot.press("shift+tab", *" again")  # from the body back into Subject
        await pilot.pause()
        assert _value(app, "subject") == subject + " again"
        await pilot.press("ctrl+z", "ctrl+z", "ctrl+z", "ctrl+z")
        await pilot.pause()
        assert _value(app, "subject") == subject


def test_keys_typed_fast_across_tab_land_in_their_fields(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """On a real terminal: the whole message is written to the terminal at once (tab between
    the fields, ctrl+g at the end), faster than the app handles keys."""
    data = tmp_path / "data"
    demo_store(data)
    config = tmp_path / "config.toml"
    config.write_text(DEMO_SENDER_CONFIG)
    argv = [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data)]
    typed = (
        b"bob@example.org, Ann Lee <ann@example.org>\x0ecc@example.org\t\t"  # ctrl+n: Cc
        b"Quick subject, typed fast\tThe body, typed just as fast.\x07"  # ctrl+g: save
    )
    terminal = PtyApp(argv, env={"PYTHONPATH": str(ROOT)})
    try:
        terminal.wait_for_text("Compose")
        terminal.send(b"c")
        terminal.wait_for_text("Save draft")
        mark = len(terminal.output)
        terminal.send(typed, settle=0)
        terminal.wait_for_text("Draft saved", since=mark)
        conn = open_store(data)
        try:
            (kept,) = drafts.live(conn)
        finally:
            conn.close()
    finally:
        terminal.close()
    assert kept.draft.to == (Address("", "bob@example.org"), Address("Ann Lee", "ann@example.org"))
    assert kept.draft.cc == (Address("", "cc@example.org"),)
    assert kept.draft.bcc == ()
    assert kept.draft.subject == "Quick subject, typed fast"
    assert kept.draft.body == "The body, typed just as fast."
