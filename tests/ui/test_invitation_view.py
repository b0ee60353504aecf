"""An invitation's summary in the message view, above its text, times in the reader's zone."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from tests.support.demo_app import DemoStore, demo_app
from tuimail.store import read
from tuimail.ui.widgets.message_list import MessageList


async def test_the_demo_invitation_is_summed_up(tmp_path: Path, demo_store: DemoStore) -> None:
    app = demo_app(demo_store(tmp_path / "data"))  # the clock's zone: UTC
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        archive = next(f for f in read.folders(app.conn) if f.name == "Archive")
        app.main_screen.show_place((archive.id,))
        app.main_screen.query_one(MessageList).focus()
        await pilot.pause()
        await pilot.press("down", "enter")  # the second newest: the invitation
        await pilot.pause()
        body = str(app.screen.query_one("#view-body", Static).render())
    lines = body.splitlines()
    start = lines.index("[Invitation]")
    # 14:00 in Berlin two days after the demo's date (22 November 2026, winter time): 13:00 UTC.
    assert lines[start : start + 5] == [
        "[Invitation]",
        "What:  Weekly sync: roadmap, releases",
        "When:  Tue 24 Nov 2026 13:00–14:00, repeats weekly",
        "Where: Room 4.12 / https://meet.example/weekly",
        "Who:   Søren Berg (organizer); 3 invited: Demo User, Ana Lima, team@example.org",
    ]
    assert body.index("[Invitation]") < body.index("Søren Berg invites you")
