"""TuimailApp: the one place where the UI meets the rest (store connection, themes, workers).

For now the app shows what the store holds; the sync workers join it with the engines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from textual.app import App

from tuimail.config import Config
from tuimail.paths import config_location
from tuimail.store.db import StoreError, open_store
from tuimail.themes import DEFAULT_THEME, load_themes
from tuimail.ui.screens.main import MainScreen

log = logging.getLogger(__name__)


class TuimailApp(App[int]):
    """The terminal app on the store in `data_dir`."""

    CSS_PATH = "ui/tuimail.tcss"
    TITLE = "tuimail"

    def __init__(
        self,
        config: Config,
        data_dir: Path,
        *,
        title: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.data_dir = data_dir
        self.clock = clock
        if title:
            self.title = title
        self._theme_problems: list[str] = []
        self._register_themes()

    def _register_themes(self) -> None:
        user_dir = config_location().path.parent / "themes"
        loaded = load_themes(user_dir)
        for theme in loaded.themes:
            self.register_theme(theme)
        self._theme_problems = loaded.problems
        wanted = self.config.ui.theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self._theme_problems.append(f"unknown theme {wanted!r}; using {DEFAULT_THEME}")
            self.theme = DEFAULT_THEME

    def on_mount(self) -> None:
        # One store connection, owned by the UI thread (the store allows one per thread).
        self.conn = open_store(self.data_dir)
        self.push_screen(MainScreen(self.conn, self.clock))
        if self._theme_problems:
            self.notify(
                "\n".join(self._theme_problems), title="Themes", severity="warning", markup=False
            )

    def on_unmount(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()


def run_app(config: Config, data_dir: Path, *, title: str | None = None) -> int:
    """Run the app until the user quits; returns the exit status."""
    try:
        app = TuimailApp(config, data_dir, title=title)
        app.run()
    except StoreError as exc:
        log.error("%s", exc)
        print(f"tuimail: error: {exc}")
        return 1
    return app.return_code or 0
