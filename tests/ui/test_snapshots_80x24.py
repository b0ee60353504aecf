"""Snapshots at 80x24, the smallest terminal tuimail is made for: the composer (Cc and Bcc
folded away), an invitation and the server's verdicts in the message view, the output of a
piped command, the help and the sync health (SVGs in __snapshots__/).

When a screen changes on purpose, regenerate with `pytest tests/ui/test_snapshots_80x24.py
--snapshot-update` and look at every changed SVG before committing it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.store import read
from tuimail.ui.screens.pipe_output import PipeOutputScreen
from tuimail.ui.widgets.message_list import MessageList

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SIZE = (80, 24)


def _app(data_dir: Path) -> TuimailApp:
    return TuimailApp(
        demo_config(), data_dir, title="tuimail demo", clock=lambda: NOW, start_workers=False
    )


async def _in_archive(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    archive = next(f for f in read.folders(app.conn) if f.name == "Archive")
    app.main_screen.show_place((archive.id,))
    app.main_screen.query_one(MessageList).focus()
    await pilot.pause()


def test_composer(tmp_path: Path, snap_compare, demo_store: DemoStore) -> None:
    demo_store(tmp_path)
    assert snap_compare(_app(tmp_path), press=["c", *"bob@example.org", "tab"], terminal_size=SIZE)


def test_server_check(tmp_path: Path, snap_compare, demo_store: DemoStore) -> None:
    demo_store(tmp_path)

    async def opened(pilot) -> None:  # type: ignore[no-untyped-def]
        await _in_archive(pilot)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(_app(tmp_path), run_before=opened, terminal_size=SIZE)


def test_invitation(tmp_path: Path, snap_compare, demo_store: DemoStore) -> None:
    demo_store(tmp_path)

    async def opened(pilot) -> None:  # type: ignore[no-untyped-def]
        await _in_archive(pilot)
        await pilot.press("down", "enter", *["plus"] * 6)  # a larger view, a shorter list
        await pilot.pause()

    assert snap_compare(_app(tmp_path), run_before=opened, terminal_size=SIZE)


def test_pipe_output(tmp_path: Path, snap_compare, demo_store: DemoStore) -> None:
    demo_store(tmp_path)

    async def piped(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.screen.query_one(MessageList).focus()
        await pilot.press("vertical_line")
        await pilot.pause()
        pilot.app.screen.query_one("#answer").value = "grep -c ^"
        await pilot.press("enter")
        screen = pilot.app.screen
        assert isinstance(screen, PipeOutputScreen)
        for _ in range(400):
            if screen.outcome is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause()

    assert snap_compare(_app(tmp_path), run_before=piped, terminal_size=SIZE)


def test_help(tmp_path: Path, snap_compare, demo_store: DemoStore) -> None:
    demo_store(tmp_path)
    assert snap_compare(_app(tmp_path), press=["question_mark"], terminal_size=SIZE)


def test_health(tmp_path: Path, snap_compare, demo_store: DemoStore) -> None:
    demo_store(tmp_path)
    assert snap_compare(_app(tmp_path), press=["H"], terminal_size=SIZE)
