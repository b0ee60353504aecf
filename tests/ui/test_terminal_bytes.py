"""Hostile text on the real screen: the demo runs in a pseudo-terminal, the hostile message is
opened, and the bytes the app writes to the terminal are inspected."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOWN = b"\x1b[B"


def _read_for(fd: int, seconds: float) -> bytes:
    """Everything the terminal receives during `seconds` (bounded, never blocks longer)."""
    out = bytearray()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


@pytest.fixture
def terminal_output(tmp_path: Path) -> bytes:
    """Run `tuimail demo` on a pty, open the hostile message, quit; return all bytes written."""
    primary, secondary = pty.openpty()
    os.set_blocking(primary, True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TUIMAIL_")},
        "TERM": "xterm-256color",
        "COLUMNS": "120",
        "LINES": "36",
        "HOME": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tuimail", "demo", "--keep", str(tmp_path / "demo")],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(secondary)
    try:
        written = _read_for(primary, 8.0)  # the store is built, then the app draws
        for _ in range(3):  # welcome, newsletter, attachment, then the hostile message
            os.write(primary, DOWN)
            written += _read_for(primary, 0.3)
        written += _read_for(primary, 1.5)
        os.write(primary, b"q")
        written += _read_for(primary, 3.0)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(primary)
    return written


def test_hostile_sequences_never_reach_the_terminal(terminal_output: bytes) -> None:
    # The app did draw the hostile message (so the test is not passing on an empty screen) ...
    assert b"Totally normal" in terminal_output
    assert b"cleared screen?" in terminal_output
    assert b"[@click=app.quit]click me[/]" in terminal_output
    # ... and none of its control sequences came through.
    assert b"\x1b]0;pwned" not in terminal_output  # window title
    assert b"\x1b]52;" not in terminal_output  # clipboard
    assert b"\x1b]8;;https://evil" not in terminal_output  # hidden hyperlink
    assert "\u202e".encode() not in terminal_output  # right-to-left override
    # The only OSC sequences written are Textual's own (22: pointer shape), never a title (0, 2),
    # a hyperlink (8) or the clipboard (52).
    osc_numbers = set(re.findall(rb"\x1b\](\d+);", terminal_output))
    assert osc_numbers <= {b"22"}, osc_numbers
