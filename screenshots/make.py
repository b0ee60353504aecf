"""Regenerate the screenshots in this folder from the demo store.

    .venv/bin/python screenshots/make.py

Builds the demo store at a fixed date in a temporary directory, drives the app headless at
120x36 and saves one SVG per view. Look at the results before committing them.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tuimail.app.application import TuimailApp  # noqa: E402 - after the path set-up above
from tuimail.app.demo import build_demo_store, demo_config  # noqa: E402
from tuimail.config.schema import UiConfig  # noqa: E402

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SIZE = (120, 36)
# file name -> (theme, keys pressed in the message list before the screenshot)
VIEWS = {
    "main.svg": ("tuimail-dark", []),
    "html-message.svg": ("tuimail-dark", ["down"]),
    "attachment.svg": ("tuimail-dark", ["down", "down"]),
    "hostile-message.svg": ("tuimail-dark", ["down", "down", "down"]),
    "reply-thread.svg": ("tuimail-dark", ["down"] * 6),
    "threads.svg": ("tuimail-dark", ["t", *["down"] * 8, "z"]),
    "conversation.svg": ("tuimail-dark", ["t", *["down"] * 8, "T"]),
    "composer-reply.svg": ("tuimail-dark", ["down", "down", "r"]),
    "outbox.svg": ("tuimail-dark", ["down", "down", "r", "ctrl+s", "o"]),
    "help.svg": ("tuimail-dark", ["question_mark"]),
    "theme-light.svg": ("tuimail-light", []),
    "theme-paper.svg": ("tuimail-paper", []),
    "theme-high-contrast.svg": ("tuimail-high-contrast", []),
}


async def take(data_dir: Path, name: str, theme: str, keys: list[str]) -> None:
    """Open the app in `theme`, press `keys` in the message list, save the screen as `name`."""
    config = replace(demo_config(), ui=UiConfig(theme=theme))
    app = TuimailApp(
        config, data_dir, title="tuimail demo", clock=lambda: NOW, offline=True, demo=True
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.2)  # the message view follows the cursor once it rests
        app.save_screenshot(name, str(HERE))


def main() -> int:
    """Build the demo store and write every screenshot."""
    data_dir = Path(tempfile.mkdtemp(prefix="tuimail-screenshots-"))
    try:
        build_demo_store(data_dir, now=NOW)
        for name, (theme, keys) in VIEWS.items():
            asyncio.run(take(data_dir, name, theme, keys))
            print(f"wrote screenshots/{name}")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
