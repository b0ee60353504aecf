"""| on a real terminal: the command gets no terminal (it cannot write to /dev/tty under the
app's screen), and what it prints reaches the screen only as sanitized text."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.demo_app import DEMO_SENDER_CONFIG, DemoStore
from tests.support.terminal import ROOT, PtyApp, scan_terminal_output

COMMAND = (
    'sh -c \'printf "\\033]0;from-tty\\007" > /dev/tty && echo YES$((2+3)) || echo NO$((2+3));'
    ' printf "\\033]0;from-stdout\\007\\033[2Jstill here\\n"\''
)


def test_a_piped_command_cannot_reach_the_terminal(tmp_path: Path, demo_store: DemoStore) -> None:
    data = tmp_path / "data"
    demo_store(data)
    config = tmp_path / "config.toml"
    config.write_text(DEMO_SENDER_CONFIG)
    # The pty made the app's controlling terminal first (as a login shell's is), so that
    # /dev/tty would be the screen for a command that kept the app's session.
    start = (
        "import fcntl, runpy, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0);"
        " sys.argv = ['tuimail', *sys.argv[1:]]; runpy.run_module('tuimail', run_name='__main__')"
    )
    argv = [sys.executable, "-c", start, "--config", str(config), "--data-dir", str(data)]
    terminal = PtyApp(argv, env={"PYTHONPATH": str(ROOT)})
    try:
        terminal.wait_for_text("Compose")
        terminal.send(b"|")  # the welcome message: no attachment, the command is asked at once
        terminal.wait_for_text("no shell")
        mark = len(terminal.output)
        terminal.send(COMMAND.encode() + b"\r")
        terminal.wait_for_text("Exit status 0.", since=mark)
        terminal.wait_for_text("still here", since=mark)
        shown = bytes(terminal.output[mark:])
        text = scan_terminal_output(shown).text
        assert "NO5" in text and "YES5" not in text  # (the command as typed shows NO$((2+3)))
        assert b"\x1b]0;from-tty" not in shown and b"\x1b]0;from-stdout" not in shown
        terminal.send(b"\x1b", settle=0.5)  # back to the list (alone: ESC q would be alt+q)
        assert terminal.quit() == 0
    finally:
        terminal.close()
