"""What the app's start made is left out of the garbage collector's full passes while the app
runs (a full pass over it paused a key by tens of milliseconds), and threads take turns at the
interpreter more often (the one writing frames to the terminal waited for the UI thread); both
are given back when it ends."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from tests.support.demo_app import NOW, DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.app.interpreter import SWITCH_INTERVAL


async def test_the_start_is_frozen_and_threads_switch_often_while_the_app_runs(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    demo_store(tmp_path)
    assert gc.get_freeze_count() == 0
    interval = sys.getswitchinterval()
    assert interval != SWITCH_INTERVAL
    app = TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        assert gc.get_freeze_count() > 0
        assert sys.getswitchinterval() == SWITCH_INTERVAL
        await pilot.press("j", "enter")  # the app works on as before
        await pilot.pause(0.3)
    assert gc.get_freeze_count() == 0
    assert sys.getswitchinterval() == interval
