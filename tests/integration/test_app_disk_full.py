"""The app on a full disk: nothing written is lost, nothing crashes, and the words say why.

The data directory is a small tmpfs (tests/integration/test_disk_full.py mounts it, as root) that
a filler file fills to the last byte. The composer keeps what is written when a save fails,
says so (a notice and the line above the keys), and saves it once there is room again (on the
next key, or the autosave tick); ctrl+s says the message was not queued and keeps it; flagging
and deleting say they could not be saved. On a disk that is full before the app starts, the app
opens the store read-only in effect, and what needs a write says why.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Static, TextArea

from tests.support.demo_app import DemoStore
from tests.support.small_disk import SmallDisk
from tests.support.terminal import PtyApp, scan_terminal_output
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.core.model import FLAGGED
from tuimail.store import drafts, outbox, read
from tuimail.store.db import DB_FILENAME, open_store
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.integration

LEAVE_ALT_SCREEN = b"\x1b[?1049l"

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIG = """
[accounts.demo]
address = "you@demo.invalid"
display_name = "Demo User"
[accounts.demo.smtp]
host = "127.0.0.1"
port = 9
security = "none"
"""
# Far more than the room a write-ahead log has left: saving it must grow the log.
BIG_TEXT = "".join(
    f"line {n:05d} of a long letter written while the disk fills\n" for n in range(6000)
)


@pytest.fixture
def data(small_disk: SmallDisk, tmp_path: Path, demo_store: DemoStore) -> Path:
    """The demo's store on the small disk (made elsewhere: making it needs more room)."""
    demo_store(tmp_path / "made")
    directory = small_disk.path / "data"
    directory.mkdir(mode=0o700)
    shutil.copyfile(tmp_path / "made" / DB_FILENAME, directory / DB_FILENAME)
    return directory


def make_app(data: Path) -> TuimailApp:
    return TuimailApp(parse_config(CONFIG), data, clock=lambda: NOW, start_workers=False)


def notices(app: TuimailApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def stored_drafts(data: Path) -> list[drafts.StoredDraft]:
    """The drafts in the store, read as another program would."""
    conn = open_store(data)
    try:
        return drafts.live(conn)
    finally:
        conn.close()


async def open_composer(pilot) -> ComposerScreen:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await pilot.press("c")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ComposerScreen)
    return screen


async def test_the_composer_keeps_the_text_when_the_disk_fills_and_saves_it_later(
    data: Path,
    small_disk: SmallDisk,
) -> None:
    app = make_app(data)
    async with app.run_test(size=(120, 36)) as pilot:
        composer = await open_composer(pilot)
        body = composer.query_one(TextArea)
        body.focus()
        await pilot.press(*"Dear Ann,")
        composer.autosave()  # the timer's tick: there is room, so it is saved
        assert stored_drafts(data)[0].draft.body == "Dear Ann,"

        small_disk.fill(0)
        body.insert("\n" + BIG_TEXT)  # pasted: far more than fits now
        await pilot.press("enter", *"Best")
        composer.autosave()
        await pilot.pause()
        assert app.is_running and app.screen is composer
        assert "could not be saved: the disk is full" in notices(app)
        assert "kept here" in notices(app)
        state = composer.query_one("#save-state", Static)
        assert state.display and "Not saved: the disk is full" in str(state.render())
        expected = "Dear Ann,\n" + BIG_TEXT + "\nBest"
        assert body.text == expected
        assert stored_drafts(data)[0].draft.body == "Dear Ann,"

        small_disk.free()
        await pilot.press("!")  # the next key saves it
        await pilot.pause()
        assert stored_drafts(data)[0].draft.body == expected + "!"
        assert composer.save_problem is None
        assert not composer.query_one("#save-state", Static).display
        assert "The draft is saved now." in notices(app)


async def test_sending_on_a_full_disk_keeps_the_composer_open_with_the_text(
    data: Path,
    small_disk: SmallDisk,
) -> None:
    app = make_app(data)
    async with app.run_test(size=(120, 36)) as pilot:
        composer = await open_composer(pilot)
        composer.query_one("#to").focus()
        await pilot.press(*"ann@example.org")
        body = composer.query_one(TextArea)
        body.focus()
        body.insert(BIG_TEXT)
        await pilot.pause()

        small_disk.fill(0)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.is_running and app.screen is composer
        assert "Not queued: the disk is full" in notices(app)
        assert body.text == BIG_TEXT
        assert outbox.items(app.conn) == []

        small_disk.free()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        (item,) = outbox.items(app.conn)
        assert BIG_TEXT.splitlines()[-1].encode() in outbox.raw_message(app.conn, item.id)


async def first_message(pilot) -> read.MessageRow:  # type: ignore[no-untyped-def]
    await pilot.pause()
    messages = pilot.app.screen.query_one(MessageList)
    messages.focus()
    await pilot.pause()
    row = read.row(pilot.app.conn, messages.current_message_id)
    assert row is not None
    return row


async def test_flag_and_delete_on_a_full_disk_say_they_could_not_be_saved(
    data: Path,
    small_disk: SmallDisk,
) -> None:
    app = make_app(data)
    async with app.run_test(size=(120, 36)) as pilot:
        row = await first_message(pilot)
        small_disk.fill(0)
        await pilot.press("F")
        await pilot.pause()
        assert app.is_running
        assert "The flag could not be saved: the disk is full" in notices(app)
        assert "disk full: changes not saved" in str(app.screen.query_one(StatusBar).render())
        assert (FLAGGED in read.row(app.conn, row.id).flags) == (FLAGGED in row.flags)
        await pilot.press("d")
        await pilot.pause()
        assert app.is_running
        assert "The move could not be saved: the disk is full" in notices(app)
        assert read.row(app.conn, row.id).folder_id == row.folder_id

        small_disk.free()
        await pilot.press("F")
        await pilot.pause()
        assert (FLAGGED in read.row(app.conn, row.id).flags) != (FLAGGED in row.flags)
        assert "disk full" not in str(app.screen.query_one(StatusBar).render())


async def test_the_app_starts_on_a_full_disk_and_says_what_it_cannot_do(
    data: Path,
    small_disk: SmallDisk,
) -> None:
    small_disk.fill(0)
    app = make_app(data)
    async with app.run_test(size=(120, 36)) as pilot:
        row = await first_message(pilot)
        assert isinstance(app.screen, MainScreen)
        assert "The disk is full: tuimail started with your mail read-only" in notices(app)
        assert "disk full: read-only" in str(app.screen.query_one(StatusBar).render())
        await pilot.press("F")
        await pilot.pause()
        assert "The flag could not be saved: the disk is full" in notices(app)

        composer = await open_composer(pilot)
        body = composer.query_one(TextArea)
        body.focus()
        body.insert(BIG_TEXT)
        composer.autosave()
        await pilot.pause()
        assert app.screen is composer
        assert "could not be saved: the disk is full" in notices(app)

        small_disk.free()
        await pilot.press("!")
        await pilot.pause()
        assert composer.save_problem is None
        assert read.row(app.conn, row.id) is not None
    # The app has ended: the draft is in the store for the next run.
    assert [d.draft.body for d in stored_drafts(data)] == [BIG_TEXT + "!"]


async def test_the_outbox_and_the_drafts_on_a_full_disk_say_what_was_not_saved(
    data: Path,
    small_disk: SmallDisk,
) -> None:
    app = make_app(data)
    async with app.run_test(size=(120, 36)) as pilot:
        composer = await open_composer(pilot)
        composer.query_one("#to").focus()
        await pilot.press(*"ann@example.org", "ctrl+s")  # queued while there is room
        await pilot.pause()
        composer = await open_composer(pilot)
        composer.query_one(TextArea).focus()
        await pilot.press(*"a draft", "ctrl+g")  # saved while there is room
        await pilot.press("escape", "k")  # close, keeping it
        await pilot.pause()
        (item,) = outbox.items(app.conn)

        small_disk.fill(0)
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("x", "y")  # remove it: yes
        await pilot.pause()
        assert app.is_running
        assert "the disk is full" in notices(app)
        await pilot.press("e")  # take it back
        await pilot.pause()
        assert app.is_running
        assert "Not taken back" in notices(app) and "the disk is full" in notices(app)
        assert [i.id for i in outbox.items(app.conn)] == [item.id]
        await pilot.press("escape")
        await pilot.pause()

        app.screen.action_drafts()  # "Drafts" under "On this computer" in the folder list
        await pilot.pause()
        await pilot.press("d", "y")
        await pilot.pause()
        assert app.is_running
        assert "Not discarded" in notices(app)
        assert [d.draft.body for d in drafts.live(app.conn)] == ["a draft"]


def test_the_real_app_goes_on_when_the_disk_fills_while_writing(
    data: Path,
    small_disk: SmallDisk,
    tmp_path: Path,
) -> None:
    """On a terminal, with the autosave's own timer: the app says the draft is not saved and
    goes on; nothing it prints (when it ends) holds the draft's text or a traceback."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    app = PtyApp(
        [sys.executable, "-m", "tuimail", "--offline", "--config", str(config),
         "--data-dir", str(data)],
        env={"HOME": str(tmp_path)},
    )  # fmt: skip
    try:
        app.wait_for_text("Welcome")
        app.send(b"c", settle=1.0)
        app.send(b"ann@example.org\tPrivate subject line\t")  # Cc, Bcc hidden
        small_disk.fill(0)
        app.send(b"\x1b[200~" + BIG_TEXT.encode() + b"\x1b[201~", settle=1.0)
        since = len(app.output)
        app.wait_for_text("Not saved: the disk is full", seconds=30, since=since)
        assert app.process.poll() is None
        status = app.quit(b"\x11")  # ctrl+q
    finally:
        app.close()
    printed = scan_terminal_output(bytes(app.output).rpartition(LEAVE_ALT_SCREEN)[2]).text
    assert status == 0, printed
    assert "Traceback" not in printed
    assert "Private subject" not in printed and "letter written" not in printed, printed


async def test_the_editor_hand_off_on_a_full_disk_keeps_the_text(
    data: Path,
    small_disk: SmallDisk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ctrl+o writes the body to a temporary file for $EDITOR: on a full disk it says so, and no
    part of the text is left in a file."""
    monkeypatch.setattr(tempfile, "tempdir", str(small_disk.path))
    monkeypatch.setenv("EDITOR", "true")
    app = make_app(data)
    async with app.run_test(size=(120, 36)) as pilot:
        composer = await open_composer(pilot)
        body = composer.query_one(TextArea)
        body.focus()
        body.insert(BIG_TEXT)
        small_disk.fill(0)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.is_running and app.screen is composer
        assert "could not be handed to 'true': No space left on device" in notices(app)
        assert body.text == BIG_TEXT
        assert not list(small_disk.path.glob("*.eml.txt"))
