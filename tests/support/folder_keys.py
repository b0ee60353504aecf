"""Driving the folder pane's folder actions with keys, as a user does (Pilot)."""

from __future__ import annotations

from textual.app import App
from textual.pilot import Pilot

from tuimail.store import read
from tuimail.ui.screens.prompt import LinePrompt
from tuimail.ui.widgets.folder_pane import FolderPane


async def to_pane(pilot: Pilot[None], app: App[None]) -> FolderPane:
    """Tab until the folder pane has the focus."""
    pane = app.screen.query_one(FolderPane)
    for _ in range(4):
        if pane.has_focus:
            break
        await pilot.press("tab")
    assert pane.has_focus
    return pane


async def highlight(pilot: Pilot[None], pane: FolderPane, name: str) -> None:
    """Move the pane's cursor to the folder called `name` (its full name) with the keys."""
    wanted = next(f.id for f in read.folders(pane.conn) if f.name == name)
    await pilot.press("home")
    for _ in range(pane.option_count):
        index = pane.highlighted
        if index is not None and pane.get_option_at_index(index).id == str(wanted):
            return
        await pilot.press("down")
    raise AssertionError(f"{name} is not in the pane")


async def answer(pilot: Pilot[None], app: App[None], text: str) -> None:
    """Type `text` into the line prompt shown (replacing what it offers) and press enter."""
    assert isinstance(app.screen, LinePrompt)
    await pilot.press("ctrl+a", "ctrl+k")
    for char in text:
        await pilot.press("space" if char == " " else char)
    await pilot.press("enter")
    await pilot.pause()
