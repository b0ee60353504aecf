"""The command palette offers the screen's actions and every folder; folder names stay text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import DEMO_FOLDERS, demo_config
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.store.write import upsert_folder
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def test_palette_goes_to_a_folder_and_runs_actions(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    conn = open_store(tmp_path)
    try:
        account = read.account_id(conn, "demo")
        assert account is not None
        upsert_folder(conn, account, "[@click=app.quit]odd[/]")
    finally:
        conn.close()
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go to demo/sent")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert len(app.screen.query_one(MessageList).ids) == DEMO_FOLDERS["Sent"][1]

        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"odd")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running  # the folder's name was shown and chosen as text, not run
        assert app.screen.query_one(MessageList).ids == []


async def test_the_palettes_screenshot_without_downloads_is_private_and_said_where(
    tmp_path: Path, monkeypatch, demo_store: DemoStore
) -> None:
    home = tmp_path / "home"
    home.mkdir()  # no Downloads in it
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_DOWNLOAD_DIR"):
        monkeypatch.delenv(name, raising=False)
    demo_store(tmp_path / "data")
    app = TuimailApp(demo_config(), tmp_path / "data", clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"screenshot")
        await pilot.pause(0.5)
        await pilot.press("enter")
        for _ in range(40):  # the palette's command waits a tenth of a second first
            await pilot.pause(0.05)
            if any(n.title == "Screenshot" for n in app._notifications):
                break
        notices = [str(n.message) for n in app._notifications if n.title == "Screenshot"]
    (saved,) = list(home.glob("*.svg"))
    assert saved.stat().st_mode & 0o777 == 0o600
    assert "<svg" in saved.read_text(encoding="utf-8")
    assert notices == [f"Saved to {saved} (readable only by you)."]
    assert not (home / "Downloads").exists()
