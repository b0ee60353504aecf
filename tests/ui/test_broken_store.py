"""The app on a store it cannot use says so in one line and exits non-zero, as the CLI does:
no traceback, and none of the mail it may have read before the damage showed.

Each kind of broken store: a corrupt one (pages in the middle overwritten), a truncated one, a
file that is not SQLite at all, and one written by a newer tuimail (a schema it does not know).
The app runs on a real terminal (a pty), where what is printed after it ends is what a user
reads.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.demo_app import DemoStore
from tests.support.terminal import PtyApp, scan_terminal_output
from tuimail.store import schema
from tuimail.store.db import DB_FILENAME

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIG = """
[accounts.demo]
address = "you@demo.invalid"
"""
PAGE = 4096
LEAVE_ALT_SCREEN = b"\x1b[?1049l"


def corrupt(db: Path) -> None:
    """Overwrite pages in the middle of the file (the header and schema stay readable)."""
    data = bytearray(db.read_bytes())
    for start in range(8 * PAGE, len(data) - PAGE, 16 * PAGE):
        data[start : start + PAGE] = bytes([0x5A]) * PAGE
    db.write_bytes(bytes(data))


def truncate(db: Path) -> None:
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])


def not_sqlite(db: Path) -> None:
    db.write_text("This is a letter, not a database.\n" * 200)


def newer_schema(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()


BREAKAGES: dict[str, Callable[[Path], None]] = {
    "corrupt": corrupt,
    "truncated": truncate,
    "not-sqlite": not_sqlite,
    "newer-schema": newer_schema,
}


def subjects(data: Path) -> list[str]:
    conn = sqlite3.connect(data / DB_FILENAME)
    try:
        return [row[0] for row in conn.execute("SELECT subject FROM messages") if row[0]]
    finally:
        conn.close()


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_the_app_on_a_broken_store_says_one_clear_line(
    tmp_path: Path, breakage: str, demo_store: DemoStore
) -> None:
    data = tmp_path / "data"
    demo_store(data)
    mail = subjects(data)
    BREAKAGES[breakage](data / DB_FILENAME)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    app = PtyApp(
        [sys.executable, "-m", "tuimail", "--offline", "--config", str(config),
         "--data-dir", str(data)],
        env={"HOME": str(tmp_path)},
    )  # fmt: skip
    try:
        app.read_for(4.0)  # whatever it draws before the damage shows
        # The list is read as the cursor moves: damage anywhere in the store comes to light.
        for key in (b"G", b"\x1b[6~" * 40, b"\x1b[6~" * 40):
            if app.process.poll() is not None:
                break
            app.send(key, settle=0.5)
        status = app.quit()
    finally:
        app.close()
    printed_bytes = bytes(app.output).rpartition(LEAVE_ALT_SCREEN)[2]
    printed = scan_terminal_output(printed_bytes).text
    lines = [line for line in printed.splitlines() if line.strip()]
    assert status != 0, printed
    assert len(lines) == 1, printed
    assert lines[0].startswith("tuimail: error: "), printed
    assert "Traceback" not in printed
    assert not [subject for subject in mail if subject in printed], printed


CRASH = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import tuimail.app.application
    from tuimail.app.application import TuimailApp
    from tuimail.config.schema import Config

    class Crashing(TuimailApp):
        CSS_PATH = str(Path(tuimail.app.application.__file__).parents[1] / "ui" / "tuimail.tcss")

        def on_ready(self) -> None:
            draft_text = "Private " + "words of a draft"
            raise ValueError("a bug")

    Crashing(Config(), Path(sys.argv[1]), start_workers=False).run(headless=True)
    """
)


def test_a_crash_prints_no_values_of_local_variables(tmp_path: Path) -> None:
    """Any other bug still prints a traceback, but not the values of local variables, where a
    message's or a draft's text may be."""
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    printed = result.stdout + result.stderr
    assert "ValueError: a bug" in printed
    assert "Private words of a draft" not in printed
