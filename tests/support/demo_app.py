"""The demo store with an account that can send, as the composer, drafts and outbox tests use it.

The account's SMTP server is a loopback port where nothing listens, and the tests make the app
with `start_workers=False`: nothing connects. `NOW` is the demo store's (and the clock's) date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tuimail.app.application import TuimailApp
from tuimail.app.demo import build_demo_store
from tuimail.config.load import parse_config

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEMO_SENDER_CONFIG = """
[accounts.demo]
address = "you@demo.invalid"
display_name = "Demo User"
[accounts.demo.smtp]
host = "127.0.0.1"
port = 9
security = "none"
"""


def demo_app(data_dir: Path, config_text: str = DEMO_SENDER_CONFIG) -> TuimailApp:
    """A new demo store in `data_dir` and the app on it (fixed clock, no workers)."""
    build_demo_store(data_dir, now=NOW)
    return TuimailApp(parse_config(config_text), data_dir, clock=lambda: NOW, start_workers=False)
