"""Hostile text on the real screen: the demo runs in a pseudo-terminal, the hostile message is
opened, and the bytes the app writes to the terminal are inspected (see also
test_hostile_screen.py, which does the same for every place a sender's text can reach)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.terminal import (
    DOWN,
    PtyApp,
    assert_only_the_apps_own_sequences,
    scan_terminal_output,
)


@pytest.fixture
def terminal_output(tmp_path: Path) -> bytes:
    """Run `tuimail demo` on a pty, open the hostile message, quit; return all bytes written."""
    app = PtyApp(
        [sys.executable, "-m", "tuimail", "demo", "--keep", str(tmp_path / "demo")],
        env={"HOME": str(tmp_path)},
    )
    try:
        app.wait_for_text("Welcome")  # the store is built, then the app draws
        for _ in range(3):  # welcome, newsletter, attachment, then the hostile message
            app.send(DOWN)
        app.wait_for_text("cleared screen?")
        assert app.quit() == 0
    finally:
        app.close()
    return bytes(app.output)


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
    # a hyperlink (8) or the clipboard (52); no C1 controls, no bidi controls.
    assert_only_the_apps_own_sequences(scan_terminal_output(terminal_output))
