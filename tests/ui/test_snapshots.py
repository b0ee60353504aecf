"""Snapshots of the main screen in every shipped theme (SVGs in __snapshots__/).

When the screen changes on purpose, regenerate with `pytest tests/ui/test_snapshots.py
--snapshot-update` and look at every changed SVG before committing it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.config.schema import UiConfig

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
THEMES = ["tuimail-dark", "tuimail-light", "tuimail-paper", "tuimail-high-contrast"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Path:
    data_dir = tmp_path_factory.mktemp("snapshot-demo")
    demo_store(data_dir)
    return data_dir


@pytest.mark.parametrize("theme", THEMES)
def test_main_screen(theme: str, demo_dir: Path, snap_compare) -> None:
    config = replace(demo_config(), ui=UiConfig(theme=theme))
    app = TuimailApp(config, demo_dir, title="tuimail demo", clock=lambda: NOW, start_workers=False)
    assert snap_compare(app, terminal_size=(120, 36))


def test_hostile_message_view(tmp_path: Path, snap_compare, demo_store: DemoStore) -> None:
    demo_store(tmp_path)  # its own store: opening the message marks it read
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    assert snap_compare(app, press=["down", "down", "down", "enter"], terminal_size=(120, 36))


@pytest.mark.parametrize("theme", THEMES)
def test_html_message_view(theme: str, tmp_path: Path, snap_compare, demo_store: DemoStore) -> None:
    """The demo's HTML newsletter: heading, emphasis, a table, a list, a quote, the links."""
    demo_store(tmp_path)
    config = replace(demo_config(), ui=UiConfig(theme=theme, list_percent=15))
    app = TuimailApp(config, tmp_path, clock=lambda: NOW, start_workers=False)

    async def html_message_shown(pilot) -> None:
        await pilot.press("down")
        headers = app.screen.query_one("#view-headers")
        for _ in range(100):  # the view follows the cursor once it rests
            if "autumn newsletter" in str(headers.render()):
                break
            await pilot.pause(0.05)
        await pilot.pause()

    assert snap_compare(app, run_before=html_message_shown, terminal_size=(120, 50))
