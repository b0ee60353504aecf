"""Waiting, under Textual's Pilot, for what an app's workers bring (bounded)."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import TextArea


async def wait_for(pilot: Pilot, condition: Callable[[], object], seconds: float = 60.0) -> None:
    """Let the app run until `condition()` holds, or fail after `seconds` (the real servers
    answer in milliseconds; the bound is for a loaded machine)."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the app did not get there in time")


async def type_into(pilot, selector: str, text: str) -> None:
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    if isinstance(widget, TextArea):
        widget.load_text(text)
    else:
        widget.value = text
    await pilot.pause()


def shown_text(widget: Widget) -> str:
    """What `widget` draws, line by line, as plain text (all of it, also what is scrolled out
    of view): the words a reader sees, whatever renderable the widget holds."""
    return "\n".join(widget.render_line(y).text.rstrip() for y in range(widget.size.height))


async def searched(pilot: Pilot) -> None:
    """Let the app run until the main screen has the results of the searches asked for (they
    are found off the UI thread)."""
    await pilot.pause()
    await wait_for(pilot, lambda: not getattr(pilot.app.screen, "search_running", False))
    await pilot.pause()
