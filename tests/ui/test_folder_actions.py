"""The folder pane's folder actions, driven by their keys: create (a subfolder too), rename,
delete after a question that says how many messages go, and what is refused in words."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.support.demo_app import DemoStore
from tests.support.folder_keys import answer, highlight, to_pane
from tuimail.app.application import TuimailApp
from tuimail.app.demo import DEMO_FOLDERS, demo_config
from tuimail.store import read
from tuimail.ui.screens.prompt import Confirm, LinePrompt

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def folder_names(app: TuimailApp) -> set[str]:
    return {f.name for f in read.folders(app.conn)}


def notices(app: TuimailApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_create_rename_and_delete_with_the_keys(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = await to_pane(pilot, app)

        await pilot.press("ctrl+n")
        await pilot.pause()
        await answer(pilot, app, "Projects/2026")
        assert "Projects/2026" in folder_names(app)
        prompts = [str(pane.get_option_at_index(i).prompt) for i in range(pane.option_count)]
        assert any(p.strip() == "Projects" for p in prompts), "a level for the new subfolder"
        assert any(p.strip() == "2026" for p in prompts)

        await highlight(pilot, pane, "Lists/dev")
        messages_before = read.message_ids(app.conn, read.folders(app.conn)[0].id)
        dev_before = next(f for f in read.folders(app.conn) if f.name == "Lists/dev").total
        assert dev_before >= DEMO_FOLDERS["Lists/dev"][1]
        await pilot.press("E")
        await pilot.pause()
        await answer(pilot, app, "Lists/development")
        assert "Lists/development" in folder_names(app) and "Lists/dev" not in folder_names(app)
        renamed = next(f for f in read.folders(app.conn) if f.name == "Lists/development")
        assert renamed.total == dev_before, "its messages stay with it"
        assert read.message_ids(app.conn, read.folders(app.conn)[0].id) == messages_before
        assert "Lists/development" in app.screen.sub_title, "the title names the folder anew"

        await highlight(pilot, pane, "Lists/development")
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert f"the {dev_before} messages in it" in app.screen.question
        await pilot.press("enter")  # No is the default: nothing happens
        await pilot.pause()
        assert "Lists/development" in folder_names(app)
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert "Lists/development" not in folder_names(app)
        assert any("Deleted the folder Lists/development" in n for n in notices(app))


async def test_what_cannot_be_done_is_refused_in_words(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = await to_pane(pilot, app)
        before = folder_names(app)

        await highlight(pilot, pane, "INBOX")
        await pilot.press("E")
        await pilot.pause()
        assert not isinstance(app.screen, LinePrompt)
        assert any("inbox cannot be renamed" in n for n in notices(app))

        await highlight(pilot, pane, "Trash")
        await pilot.press("D")
        await pilot.pause()
        assert not isinstance(app.screen, Confirm)
        assert any("Trash folder cannot be deleted" in n for n in notices(app))

        await pilot.press("ctrl+n")
        await pilot.pause()
        await answer(pilot, app, "a//b")
        assert any("no empty level" in n for n in notices(app))
        await pilot.press("ctrl+n")
        await pilot.pause()
        await answer(pilot, app, "Sent")
        assert any("There is a folder Sent already" in n for n in notices(app))
        assert folder_names(app) == before


async def test_the_palette_renames_the_folder_highlighted_in_the_pane(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = await to_pane(pilot, app)
        await highlight(pilot, pane, "Lists/dev")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"rename the folder")
        await pilot.pause(0.5)
        await pilot.press("enter")
        for _ in range(40):  # the palette's command runs a moment after it closes
            if isinstance(app.screen, LinePrompt):
                break
            await pilot.pause(0.05)
        await answer(pilot, app, "Lists/devel")
        assert "Lists/devel" in folder_names(app) and "Lists/dev" not in folder_names(app)
