"""Reading, flagging, deleting and searching in the app: intents land in the store at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import Input

from tests.support.demo_app import DemoStore
from tests.support.pilot import searched
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.core.model import FLAGGED, SEEN
from tuimail.store import read
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.help import HelpScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _folder(app: TuimailApp, name: str) -> read.FolderInfo:
    return next(f for f in read.folders(app.conn) if f.name == name)


async def test_read_flag_and_delete(tmp_path: Path, demo_store: DemoStore) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        first = messages.current_message_id
        assert first is not None
        unread_before = _folder(app, "INBOX").unread

        await pilot.press("enter")  # opening marks it read
        await pilot.pause()
        row = read.row(app.conn, first)
        assert row is not None and SEEN in row.flags
        assert _folder(app, "INBOX").unread == unread_before - 1
        # The title's counts follow the user's own change, as the folder pane's do.
        assert f", {unread_before - 1} unread" in app.screen.sub_title

        messages.focus()
        await pilot.press("N")  # and back to unread
        row = read.row(app.conn, first)
        assert row is not None and SEEN not in row.flags
        assert f", {unread_before} unread" in app.screen.sub_title

        await pilot.press("F")
        row = read.row(app.conn, first)
        assert row is not None and FLAGGED in row.flags

        trash_before = _folder(app, "Trash").total
        total_before = _folder(app, "INBOX").total
        await pilot.press("d")
        await pilot.pause()
        assert _folder(app, "INBOX").total == total_before - 1
        assert _folder(app, "Trash").total == trash_before + 1
        assert first not in messages.ids
        moved = read.row(app.conn, first)
        assert moved is not None and moved.folder_id == _folder(app, "Trash").id


async def test_move_and_copy_to_a_folder_chosen_by_typing(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        first = messages.current_message_id
        assert first is not None
        archive = next(f for f in read.folders(app.conn) if f.role.value == "archive")
        archive_before, inbox_before = archive.total, _folder(app, "INBOX").total

        await pilot.press("C")
        await pilot.pause()
        assert isinstance(app.screen, FolderPicker)
        await pilot.press(*archive.name[:3].lower(), "enter")
        await pilot.pause()
        assert _folder(app, archive.name).total == archive_before + 1
        assert _folder(app, "INBOX").total == inbox_before
        assert first in messages.ids, "a copy leaves the message where it is"

        await pilot.press("s")
        await pilot.pause()
        await pilot.press("escape")  # changed my mind: nothing moves
        await pilot.pause()
        assert _folder(app, "INBOX").total == inbox_before

        await pilot.press("s")
        await pilot.pause()
        await pilot.press(*archive.name[:3].lower(), "enter")
        await pilot.pause()
        assert _folder(app, archive.name).total == archive_before + 2
        assert _folder(app, "INBOX").total == inbox_before - 1
        assert first not in messages.ids
        moved = read.row(app.conn, first)
        assert moved is not None and moved.folder_id == archive.id


async def test_search_shows_results_and_escape_goes_back(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        everything = len(messages.ids)
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"newsletter", "enter")
        await searched(pilot)
        assert messages.place is None
        subjects = [messages.row_at(i).envelope.subject for i in range(len(messages.ids))]
        assert "Our autumn newsletter (HTML only)" in subjects
        assert len(messages.ids) < everything
        await pilot.press("escape")
        await pilot.pause()
        assert len(messages.ids) == everything


async def test_help_lists_the_keys(tmp_path: Path, demo_store: DemoStore) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.rows)
        assert keys["/"] == "Search this folder"
        assert keys["?"] == "Keys"
        assert "Flag / unflag" in keys.values()
        assert keys["u"] == "Undo the last delete, move, flag or read"
        assert "j" in " ".join(keys)  # the list's own keys are there too
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


def test_folder_names_narrow_by_every_typed_word() -> None:
    from tuimail.ui.screens.folder_picker import matching

    def folder(name: str) -> read.FolderInfo:
        return read.FolderInfo(
            0, 0, "a", name, "/", read.FolderRole.NONE, 0, 0, None, None, None, None, None,
            None, None, 0,
        )  # fmt: skip

    folders = [folder(n) for n in ("Lists/dev", "Archive/2021", "Dev notes", "INBOX")]
    assert [f.name for f in matching(folders, "")] == [f.name for f in folders]
    assert [f.name for f in matching(folders, "DEV")] == ["Dev notes", "Lists/dev"]
    assert [f.name for f in matching(folders, "arch 21")] == ["Archive/2021"]
    assert matching(folders, "nothing") == []


async def test_the_search_line_takes_the_keys_and_escape_closes_it(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        shown = list(messages.ids)
        await pilot.press("slash", "o", "d")  # typed at once: into the line, not "outbox"/"delete"
        await pilot.pause()
        bar = app.screen.query_one("#search-bar", Input)
        assert app.focused is bar and bar.value == "od"
        assert not app.screen.query_one(StatusBar).display, "the line takes the status row"
        assert "from:" in bar.placeholder
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and app.focused is messages
        assert not app.screen.query_one("#search-line").display
        assert app.screen.query_one(StatusBar).display
        assert list(messages.ids) == shown, "nothing was searched"


async def test_search_all_mail_finds_messages_in_every_folder(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        archive = _folder(app, "Archive")
        row = read.row(app.conn, read.message_ids(app.conn, archive.id)[0])
        assert row is not None
        word = max(row.envelope.subject.split(), key=len)
        await pilot.press("slash", *word, "enter")  # this folder (INBOX) only
        await searched(pilot)
        assert row.id not in messages.ids
        await pilot.press("escape", "ctrl+k")
        await pilot.pause()
        assert "all mail" in str(app.screen.query_one("#search-label").render())
        await pilot.press(*word, "enter")
        await searched(pilot)
        assert row.id in messages.ids, "found in the Archive"
        assert "all mail:" in app.screen.sub_title
