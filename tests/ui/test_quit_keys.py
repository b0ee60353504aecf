"""Keys typed right after the quit key do nothing: once quitting starts, no key reaches an
action. The demo runs on a real pseudo-terminal and gets "q" and the next key in one write, as a
fast typist (or a paste) would send them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.terminal import PtyApp, scan_terminal_output
from tuimail.store import ops, read
from tuimail.store.db import open_store


def _folder_totals(data_dir: Path) -> dict[str, int]:
    conn = open_store(data_dir)
    try:
        return {info.name: info.total for info in read.folders(conn)}
    finally:
        conn.close()


def _pending_ops(data_dir: Path) -> int:
    conn = open_store(data_dir)
    try:
        return ops.count_pending(conn)
    finally:
        conn.close()


@pytest.mark.parametrize(
    "keys",
    [b"qd", b"qs", b"qc"],
    ids=["delete", "move", "compose"],
)
def test_keys_after_quit_do_nothing(tmp_path: Path, keys: bytes) -> None:
    data_dir = tmp_path / "demo"
    app = PtyApp(
        [sys.executable, "-m", "tuimail", "demo", "--keep", str(data_dir)],
        env={"HOME": str(tmp_path)},
    )
    try:
        app.wait_for_text("Welcome")  # the store is built, then the app draws
        before = _folder_totals(data_dir)
        status = app.quit(keys)
    finally:
        app.close()
    text = scan_terminal_output(bytes(app.output)).text
    assert status == 0, text[-2000:]
    assert "Traceback" not in text
    assert "NoMatches" not in text
    # The message under the cursor is where it was, with nothing waiting for a server.
    assert _folder_totals(data_dir) == before
    assert _pending_ops(data_dir) == 0
