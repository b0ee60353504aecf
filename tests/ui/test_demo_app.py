"""The app on the demo store, driven headless with Textual's Pilot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import OptionList, Static

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import DEMO_FOLDERS, demo_config
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.ui.widgets.message_list import MessageList

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Path:
    data_dir = tmp_path_factory.mktemp("demo")
    demo_store(data_dir)
    return data_dir


def test_demo_store_has_every_folder_and_the_showcase(demo_dir: Path) -> None:
    conn = open_store(demo_dir)
    try:
        folders = {f.name: f for f in read.folders(conn)}
        assert set(folders) == set(DEMO_FOLDERS)
        assert folders["INBOX"].total == DEMO_FOLDERS["INBOX"][1] + 4
        newest = read.rows(conn, read.message_ids(conn, folders["INBOX"].id)[:4])
        subjects = [r.envelope.subject for r in newest]
        assert subjects[0] == "Welcome to tuimail"
        assert any(r.envelope.has_attachments for r in newest)
        assert all(r.body_local for r in newest)
    finally:
        conn.close()


async def test_app_lists_folders_and_messages(demo_dir: Path) -> None:
    app = TuimailApp(demo_config(), demo_dir, title="tuimail demo", start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)  # the view follows the cursor once it rests
        folders = app.screen.query_one("#folders", OptionList)
        labels = [str(folders.get_option_at_index(i).prompt) for i in range(folders.option_count)]
        assert labels[0] == "demo"
        assert any(label.strip().startswith("INBOX") for label in labels)
        # "Lists/dev" is a tree: the level, then the folder under it, indented further.
        lists = next(i for i, label in enumerate(labels) if label.strip() == "Lists")
        dev = labels[lists + 1]
        assert dev.strip().startswith("dev")
        assert len(dev) - len(dev.lstrip()) > len(labels[lists]) - len(labels[lists].lstrip())
        table = app.screen.query_one(MessageList)
        assert len(table.ids) == DEMO_FOLDERS["INBOX"][1] + 4
        headers = str(app.screen.query_one("#view-headers", Static).render())
        assert "Subject: Welcome to tuimail" in headers


async def test_hostile_message_is_shown_as_harmless_text(demo_dir: Path) -> None:
    app = TuimailApp(demo_config(), demo_dir, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(MessageList)
        table.focus()
        for _ in range(3):  # welcome, newsletter, attachment, then the hostile one
            await pilot.press("down")
        # The view follows the cursor once it rests; wait (bounded) for it.
        view = app.screen.query_one("#view-headers", Static)
        for _ in range(100):
            if "Totally normal" in str(view.render()):
                break
            await pilot.pause(0.05)
        headers = str(view.render())
        body = str(app.screen.query_one("#view-body", Static).render())
        assert "Totally normal" in headers
        for shown in (headers, body):
            assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
        # Textual markup in a message is text, not an action: it is shown literally ...
        assert "[@click=app.quit]click me[/]" in body
        # ... and the app is still running after rendering it.
        assert app.is_running


async def test_selecting_another_folder_shows_its_messages(demo_dir: Path) -> None:
    app = TuimailApp(demo_config(), demo_dir, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        folders = app.screen.query_one("#folders", OptionList)
        sent_index = next(
            i
            for i in range(folders.option_count)
            if str(folders.get_option_at_index(i).prompt).strip() == "Sent"
        )
        folders.highlighted = sent_index
        await pilot.pause()
        table = app.screen.query_one(MessageList)
        assert len(table.ids) == DEMO_FOLDERS["Sent"][1]


async def test_empty_store_says_what_to_do(tmp_path: Path) -> None:
    app = TuimailApp(demo_config(), tmp_path, start_workers=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        body = str(app.screen.query_one("#view-body", Static).render())
        assert "No mail in the local store yet" in body and "tuimail demo" in body
