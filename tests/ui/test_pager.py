"""The message view read like mutt's and aerc's pagers: every key pressed as a user would, on a
store of hand-written messages (a long one with a long quote and links, then short ones, some
unread)."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tests.support.demo_app import NOW
from tests.support.pager_mail import pager_store
from tests.support.pilot import searched, wait_for
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.config.schema import UiConfig
from tuimail.core.model import FLAGGED, SEEN
from tuimail.store import read
from tuimail.ui.screens.composer import CloseChoice, ComposerScreen
from tuimail.ui.screens.help import HelpScreen
from tuimail.ui.screens.link_picker import LinkPicker
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView


def _app(tmp_path: Path, wrap_width: int = 90) -> TuimailApp:
    data_dir = tmp_path / "data"
    pager_store(data_dir)
    config = dataclasses.replace(demo_config(), ui=UiConfig(wrap_width=wrap_width))
    return TuimailApp(config, data_dir, clock=lambda: NOW, start_workers=False)


def _body(app: TuimailApp) -> str:
    return str(app.screen.query_one("#view-body", Static).render())


def _headers(app: TuimailApp) -> str:
    return str(app.screen.query_one("#view-headers", Static).render())


def _subject_at_cursor(app: TuimailApp) -> str:
    messages = app.screen.query_one(MessageList)
    row = messages.row_at(messages.cursor)
    assert row is not None
    return row.envelope.subject


def _seen(app: TuimailApp, subject: str) -> bool:
    messages = app.screen.query_one(MessageList)
    for index in range(len(messages.ids)):
        row = read.row(app.screen.conn, messages.ids[index])  # type: ignore[attr-defined]
        if row is not None and row.envelope.subject == subject:
            return SEEN in row.flags
    raise AssertionError(subject)


async def _open_first(app: TuimailApp, pilot: Pilot[None]) -> MessageView:
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    view = app.screen.query_one(MessageView)
    assert app.focused is view
    assert "Hello," in _body(app)
    return view


async def test_lines_pages_top_and_bottom(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await _open_first(app, pilot)
        assert view.scroll_y == 0
        await pilot.press("j", "j", "j")
        assert view.scroll_y == 3
        await pilot.press("k")
        assert view.scroll_y == 2
        await pilot.press("down")
        assert view.scroll_y == 3
        await pilot.press("up")
        assert view.scroll_y == 2
        page = view.scrollable_content_region.height
        await pilot.press("space")
        assert view.scroll_y == 2 + page
        await pilot.press("b")
        assert view.scroll_y == 2
        await pilot.press("pagedown")
        assert view.scroll_y == 2 + page
        await pilot.press("pageup")
        assert view.scroll_y == 2
        await pilot.press("G")
        assert view.scroll_y == view.max_scroll_y > page
        await pilot.press("g")
        assert view.scroll_y == 0
        await pilot.press("end")
        assert view.scroll_y == view.max_scroll_y
        await pilot.press("home")
        assert view.scroll_y == 0
        # Through all of it the list kept its cursor and the view its focus.
        assert _subject_at_cursor(app) == "long"
        assert app.focused is view


async def test_next_and_previous_message_from_the_view(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await _open_first(app, pilot)
        await pilot.press("J")
        await pilot.pause()
        assert "The body of two." in _body(app)
        assert _subject_at_cursor(app) == "two"
        await pilot.press("J")
        await pilot.pause()
        assert "The body of three." in _body(app)
        assert _subject_at_cursor(app) == "three"
        assert _seen(app, "three")  # opened: read, as with enter
        assert app.focused is view
        await pilot.press("K", "K")
        await pilot.pause()
        assert "Hello," in _body(app)
        assert _subject_at_cursor(app) == "long"
        await pilot.press("K")  # the first message: nothing before it
        await pilot.pause()
        assert _subject_at_cursor(app) == "long"
        assert any("No previous message" in str(n.message) for n in app._notifications)
        # Back in the list: the cursor is where the view was.
        await pilot.press("J", "J", "J", "escape")
        await pilot.pause()
        assert app.focused is app.screen.query_one(MessageList)
        assert _subject_at_cursor(app) == "four"


async def test_next_unread_in_the_view_and_in_the_list(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await _open_first(app, pilot)  # "long" is read now
        await pilot.press("n")  # "two" is read: "three"
        await pilot.pause()
        assert _subject_at_cursor(app) == "three"
        assert "The body of three." in _body(app)
        assert _seen(app, "three")
        assert app.focused is view
        await pilot.press("q")  # back to the list
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        assert app.focused is messages
        await pilot.press("n")  # in the list: the cursor moves, nothing is opened
        await pilot.pause()
        assert _subject_at_cursor(app) == "five"
        assert not _seen(app, "five")
        assert app.focused is messages
        await pilot.press("n")
        await pilot.pause()
        assert _subject_at_cursor(app) == "five"
        assert any("No unread message below" in str(n.message) for n in app._notifications)


async def test_full_headers_on_and_off(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await _open_first(app, pilot)
        assert "X-Pager-Test" not in _headers(app)
        assert "Subject: long" in _headers(app)
        await pilot.press("h")
        await pilot.pause()
        headers = _headers(app)
        assert "X-Pager-Test: a header only the full headers show" in headers
        assert "Message-ID: <pager-0@example.org>" in headers
        await pilot.press("J")  # on for the next message too, until turned off
        await pilot.pause()
        assert "Message-ID: <pager-1@example.org>" in _headers(app)
        await pilot.press("h")
        await pilot.pause()
        assert "X-Pager-Test" not in _headers(app)
        assert "Subject: two" in _headers(app)


async def test_long_quotes_fold_and_unfold(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await _open_first(app, pilot)
        body = _body(app)
        assert "> quoted line 3" in body
        assert "> quoted line 4\n" not in body
        assert "[... 37 quoted lines, press T to show]" in body
        assert "> a short quote" in body  # a short quote is never folded
        await pilot.press("T")
        await pilot.pause()
        body = _body(app)
        assert "> quoted line 40" in body
        assert "quoted lines, press" not in body
        await pilot.press("T")
        await pilot.pause()
        assert "[... 37 quoted lines, press T to show]" in _body(app)
        await pilot.press("T", "J", "K")  # another message: folded again
        await pilot.pause()
        assert "[... 37 quoted lines, press T to show]" in _body(app)


async def test_the_body_wraps_at_the_configured_width_on_a_wide_terminal(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await _open_first(app, pilot)
        body = app.screen.query_one("#view-body", Static)
        view = app.screen.query_one(MessageView)
        assert view.scrollable_content_region.width > 150
        assert body.size.width == 90
        lines = [strip.text.rstrip() for strip in body.render_lines(body.region.reset_offset)]
        assert max(len(line) for line in lines) <= 90
        assert sum("word" in line for line in lines) >= 6  # the long paragraph, wrapped


async def test_a_narrow_view_wraps_at_its_own_width(tmp_path: Path) -> None:
    app = _app(tmp_path, wrap_width=300)
    async with app.run_test(size=(100, 36)) as pilot:
        await _open_first(app, pilot)
        body = app.screen.query_one("#view-body", Static)
        view = app.screen.query_one(MessageView)
        assert body.size.width == view.scrollable_content_region.width < 100


async def test_links_are_offered_and_the_chosen_one_goes_to_the_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    # The first entry is not installed: the next one is tried. '%s' stands for the link.
    monkeypatch.setenv("BROWSER", os.pathsep.join(["no-such-browser-here", f"{browser} %s"]))
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await _open_first(app, pilot)
        await pilot.press("L")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, LinkPicker)
        assert picker.links == [
            "https://example.org/first",
            "https://example.org/second",
            "https://example.net/third?a=1&b=2",
        ]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LinkPicker)
        assert not opened.exists()
        await pilot.press("L", "down", "down", "enter")
        await pilot.pause()
        await wait_for(pilot, opened.exists, seconds=10)
        await wait_for(pilot, lambda: opened.read_text() != "", seconds=10)
        assert opened.read_text() == "https://example.net/third?a=1&b=2\n"
        # A digit chooses at once.
        opened.unlink()
        await pilot.press("L", "1")
        await wait_for(pilot, lambda: opened.exists() and opened.read_text() != "", seconds=10)
        assert opened.read_text() == "https://example.org/first\n"


async def test_a_message_without_links_says_so(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await _open_first(app, pilot)
        await pilot.press("J", "L")
        await pilot.pause()
        assert not isinstance(app.screen, LinkPicker)
        assert any("No links in this message" in str(n.message) for n in app._notifications)


async def test_thread_keys_in_the_view_say_they_are_the_lists(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await _open_first(app, pilot)
        messages = app.screen.query_one(MessageList)
        for key in ("t", "z"):
            await pilot.press(key)
            await pilot.pause()
            assert not messages.threaded
            assert app.focused is view
        words = [str(n.message) for n in app._notifications]
        assert (
            sum(
                "t (threads on / off) and z (open / close a thread) work in the message list" in w
                for w in words
            )
            == 2
        )
        await pilot.press("escape", "t")
        await pilot.pause()
        assert messages.threaded


async def test_list_keys_act_on_the_message_shown(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await _open_first(app, pilot)
        await pilot.press("J", "J")  # "three", read by opening it
        await pilot.pause()
        await pilot.press("N")  # unread again
        await pilot.pause()
        assert not _seen(app, "three")
        await pilot.press("r")
        await pilot.pause()
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        assert composer.query_one("#subject").value == "Re: three"  # type: ignore[attr-defined]
        await pilot.press("escape")
        await pilot.pause()
        if isinstance(app.screen, CloseChoice):
            await pilot.press("d")
            await pilot.pause()
        assert view.shown_id is not None


async def test_delete_and_flag_from_the_view(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await _open_first(app, pilot)
        await pilot.press("J")  # "two"
        await pilot.pause()
        await pilot.press("F")
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        row = read.row(app.conn, messages.ids[1])
        assert row is not None and row.envelope.subject == "two" and FLAGGED in row.flags
        await pilot.press("d")
        await wait_for(pilot, lambda: "The body of three." in _body(app))
        subjects = [r.envelope.subject for r in read.rows(app.conn, messages.ids)]
        assert subjects == ["long", "three", "four", "five"]
        assert _subject_at_cursor(app) == "three"
        assert app.focused is view


async def test_help_lists_the_keys_of_the_view(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        titles, rows = zip(*app.screen.sections, strict=True)
        assert "In the message view" in titles
        view_rows = dict(rows[titles.index("In the message view")])
        assert view_rows["J"] == "Next message"
        assert view_rows["T"] == "Show / fold long quotes"
        assert view_rows["L"] == "Open a link in the browser"
        assert dict(app.screen.rows)["n"] == "Next unread message"


async def test_remapped_view_keys_are_the_ones_named_and_pressed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pager_store(data_dir)
    config = dataclasses.replace(
        demo_config(), keys={"view-quotes": "Q", "view-next": "ctrl+n", "view-line-down": "e"}
    )
    app = TuimailApp(config, data_dir, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await _open_first(app, pilot)
        assert "[... 37 quoted lines, press Q to show]" in _body(app)
        await pilot.press("Q")
        await pilot.pause()
        assert "> quoted line 40" in _body(app)
        await pilot.press("e")
        assert view.scroll_y == 1
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert _subject_at_cursor(app) == "two"


async def test_escape_from_the_view_keeps_a_search_shown(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"body", "enter")
        await searched(pilot)
        messages = app.screen.query_one(MessageList)
        assert messages.place is None and len(messages.ids) == 4  # "The body of ..."
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is app.screen.query_one(MessageView)
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is messages
        assert messages.place is None and len(messages.ids) == 4  # the search stays
        await pilot.press("escape")  # from the list: the search ends
        await pilot.pause()
        assert messages.place is not None and len(messages.ids) == 5
