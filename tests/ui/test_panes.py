"""The main screen's panes: on and off, wider and narrower, usable from 80x24 up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widget import Widget

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.config.load import parse_config
from tuimail.config.schema import Config
from tuimail.ui.commands import TuimailCommands
from tuimail.ui.panes import FOLDER_WIDTH_MIN, PaneLayout
from tuimail.ui.screens.help import HelpScreen
from tuimail.ui.widgets.message_list import MessageList

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SIZES = [(80, 24), (160, 50)]
MIN_PANE_HEIGHT = 5  # a border and three lines


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Path:
    data_dir = tmp_path_factory.mktemp("panes-demo")
    demo_store(data_dir)
    return data_dir


def _app(data_dir: Path, config: Config | None = None) -> TuimailApp:
    return TuimailApp(config or demo_config(), data_dir, clock=lambda: NOW, start_workers=False)


def _panes(app: TuimailApp) -> tuple[Widget, Widget, Widget]:
    screen = app.screen
    return screen.query_one("#folders"), screen.query_one(MessageList), screen.query_one("#view")


@pytest.mark.parametrize("size", SIZES)
async def test_default_layout_fits_the_terminal(demo_dir: Path, size: tuple[int, int]) -> None:
    async with _app(demo_dir).run_test(size=size) as pilot:
        await pilot.pause()
        folders, messages, view = _panes(pilot.app)
        width, height = size
        # A quarter of the width, 16 to 28 columns: 20 at 80 columns, 28 from 112 up.
        assert folders.outer_size.width == min(28, max(16, width // 4))
        assert messages.outer_size.width == width - folders.outer_size.width
        assert messages.outer_size.height >= MIN_PANE_HEIGHT
        assert view.outer_size.height >= MIN_PANE_HEIGHT
        assert messages.outer_size.height + view.outer_size.height == height - 3


async def test_tab_goes_round_the_panes_and_a_folder_opens_by_keys(demo_dir: Path) -> None:
    """Tab moves list -> message view -> folder pane -> list; in the folder pane the arrow keys
    show another folder and Enter goes back to its list (all without a mouse)."""
    async with _app(demo_dir).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        folders, messages, view = _panes(pilot.app)
        assert pilot.app.focused is messages
        await pilot.press("tab")
        assert pilot.app.focused is view
        await pilot.press("tab")
        assert pilot.app.focused is folders
        screen = pilot.app.screen
        before = screen.current_place
        await pilot.press("down")
        await pilot.pause()
        assert screen.current_place != before
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.focused is messages
        await pilot.press("tab", "tab", "tab")
        assert pilot.app.focused is messages


@pytest.mark.parametrize("size", SIZES)
async def test_folder_pane_hides_and_comes_back(demo_dir: Path, size: tuple[int, int]) -> None:
    async with _app(demo_dir).run_test(size=size) as pilot:
        await pilot.pause()
        folders, messages, _ = _panes(pilot.app)
        folders.focus()
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not folders.display
        assert messages.outer_size.width == size[0]
        assert pilot.app.focused is messages  # the focus left the hidden pane
        await pilot.press("tab")  # the hidden pane is not in the focus chain
        assert pilot.app.focused is not folders
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert folders.display
        assert messages.outer_size.width == size[0] - folders.outer_size.width


@pytest.mark.parametrize("size", SIZES)
async def test_folder_pane_width_steps_are_bounded(demo_dir: Path, size: tuple[int, int]) -> None:
    async with _app(demo_dir).run_test(size=size) as pilot:
        await pilot.pause()
        folders, messages, _ = _panes(pilot.app)
        start = folders.outer_size.width
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert folders.outer_size.width == start + 4
        for _ in range(30):
            await pilot.press("right_square_bracket")
        await pilot.pause()
        assert folders.outer_size.width == int(size[0] * 0.4)  # the list keeps 60%
        assert messages.outer_size.width == size[0] - folders.outer_size.width
        for _ in range(30):
            await pilot.press("left_square_bracket")
        await pilot.pause()
        assert folders.outer_size.width == FOLDER_WIDTH_MIN


@pytest.mark.parametrize("size", SIZES)
async def test_message_view_hides_grows_and_shrinks(demo_dir: Path, size: tuple[int, int]) -> None:
    async with _app(demo_dir).run_test(size=size) as pilot:
        await pilot.pause()
        _, messages, view = _panes(pilot.app)
        panes_height = size[1] - 3  # header, status bar, footer
        start = view.outer_size.height

        await pilot.press("plus")
        await pilot.pause()
        assert view.outer_size.height > start
        for _ in range(10):
            await pilot.press("plus")
        await pilot.pause()
        assert messages.outer_size.height >= MIN_PANE_HEIGHT
        assert view.outer_size.height > panes_height // 2

        for _ in range(12):
            await pilot.press("minus")
        await pilot.pause()
        assert view.outer_size.height >= MIN_PANE_HEIGHT
        assert messages.outer_size.height > panes_height // 2
        assert messages.outer_size.height + view.outer_size.height == panes_height

        await pilot.press("backslash")
        await pilot.pause()
        assert not view.display
        assert messages.outer_size.height == panes_height
        await pilot.press("enter")  # opening a message shows the view again
        await pilot.pause()
        assert view.display
        assert pilot.app.focused is view

        await pilot.press("backslash")
        await pilot.pause()
        assert not view.display and pilot.app.focused is messages
        await pilot.press("equals_sign")  # "+" without shift; a resize shows the view
        await pilot.pause()
        assert view.display


async def test_initial_sizes_come_from_the_config(demo_dir: Path) -> None:
    config = parse_config("[ui]\nfolder_width = 36\nlist_percent = 70\n")
    async with _app(demo_dir, config).run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        folders, messages, view = _panes(pilot.app)
        assert folders.outer_size.width == 36
        assert messages.outer_size.height == int(47 * 0.7)
        assert view.outer_size.height == 47 - messages.outer_size.height


async def test_pane_keys_can_be_remapped(demo_dir: Path) -> None:
    config = parse_config('[keys]\nfolders-pane = "f9"\nview-larger = "L"\n')
    async with _app(demo_dir, config).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        folders, _, view = _panes(pilot.app)
        await pilot.press("ctrl+b")  # no longer bound
        assert folders.display
        await pilot.press("f9")
        await pilot.pause()
        assert not folders.display
        start = view.outer_size.height
        await pilot.press("L")
        await pilot.pause()
        assert view.outer_size.height > start


async def test_help_and_palette_list_the_pane_keys(demo_dir: Path) -> None:
    async with _app(demo_dir).run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        palette = {
            title: help_text
            for title, _, help_text in TuimailCommands(pilot.app.screen)._commands()
        }
        assert palette["Folder pane on / off"] == "action (ctrl+b)"
        assert palette["Wider folder pane"] == "action (])"
        assert palette["Larger message view, shorter list"] == "action (+, =)"
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(pilot.app.screen, HelpScreen)
        keys = dict(pilot.app.screen.rows)
        assert keys["ctrl+b"] == "Folder pane on / off"
        assert keys["\\"] == "Message view on / off"
        assert keys["["] == "Narrower folder pane"
        assert keys["-"] == "Smaller message view, longer list"


def test_layout_steps_stay_in_bounds() -> None:
    layout = PaneLayout()
    layout.resize_folders(-10, current=20, screen_width=80)
    assert layout.folder_width == FOLDER_WIDTH_MIN
    layout.resize_folders(10, current=20, screen_width=80)
    assert layout.folder_width == 32
    layout.resize_view(10)
    assert layout.list_percent == 15
    layout.resize_view(-10)
    assert layout.list_percent == 85


def test_folder_pane_hidden_at_80x24(tmp_path: Path, snap_compare, demo_store: DemoStore) -> None:
    demo_store(tmp_path)  # its own store: other tests here open messages
    app = TuimailApp(
        demo_config(), tmp_path, title="tuimail demo", clock=lambda: NOW, start_workers=False
    )
    assert snap_compare(app, press=["ctrl+b"], terminal_size=(80, 24))
