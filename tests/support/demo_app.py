"""The demo store for the UI tests, built once per session and copied for each test, and the app
on it with an account that can send (as the composer, drafts and outbox tests use it).

A pytest plugin (registered in tests/conftest.py): the `demo_store` fixture puts a fresh copy of
the store `tuimail.app.demo.build_demo_store` made into a directory; every test gets its own copy,
since tests write to their store. The account's SMTP server is a loopback port where nothing
listens, and the tests make the app with `start_workers=False`: nothing connects. `NOW` is the
demo store's (and the clock's) date.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tuimail.app.application import TuimailApp
from tuimail.app.demo import build_demo_store
from tuimail.config.load import parse_config

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEMO_SENDER_CONFIG = """
[accounts.demo]
address = "you@demo.invalid"
display_name = "Demo User"
[[accounts.demo.identities]]
address = "you.lists@demo.invalid"
name = "Demo User (lists)"
[accounts.demo.smtp]
host = "127.0.0.1"
port = 9
security = "none"
"""

# Puts a fresh copy of the demo store into a data directory (made if missing) and returns it.
DemoStore = Callable[[Path], Path]


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    """The demo store (at `NOW`), built on first use, copied into each data directory asked for."""
    template = tmp_path_factory.mktemp("demo-template") / "data"
    build_demo_store(template, now=NOW)

    def copy(data_dir: Path) -> Path:
        shutil.copytree(template, data_dir, dirs_exist_ok=True)
        return data_dir

    return copy


def demo_app(data_dir: Path, config_text: str = DEMO_SENDER_CONFIG) -> TuimailApp:
    """The app on the demo store in `data_dir` (a `demo_store` copy): fixed clock, no workers."""
    return TuimailApp(parse_config(config_text), data_dir, clock=lambda: NOW, start_workers=False)
