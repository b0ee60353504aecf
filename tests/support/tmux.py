"""The app in a real terminal emulator (tmux), driven by keys and read back as a screen.

`TmuxApp` starts a private tmux server (its own socket, no user configuration) with one window
of a fixed size running a command, types keys into it with `send-keys`, and reads the screen
with `capture-pane`: what a person in front of the terminal would see, row by row, after tmux
has interpreted every sequence the program wrote. The window stays after the program exits,
so its exit status can be read.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class TmuxApp:
    """A program running in a detached tmux session of `columns` x `lines` cells."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        socket_dir: Path,
        columns: int = 120,
        lines: int = 36,
        cwd: Path = ROOT,
    ) -> None:
        self.socket = socket_dir / "tmux.sock"
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TUIMAIL_", "TMUX"))},
            **env,
        }
        # One command line for the new server: remain-on-exit is set before the program runs,
        # so a program that exits at once still leaves its status behind.
        self._tmux(
            "-f",
            "/dev/null",
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "set-option",
            "-g",
            "default-terminal",
            "tmux-256color",
            ";",
            "new-session",
            "-d",
            "-s",
            "app",
            "-x",
            str(columns),
            "-y",
            str(lines),
            "-c",
            str(cwd),
            "--",
            *argv,
            env=full_env,
        )

    def _tmux(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(env) if env is not None else None,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args[:3])}: {result.stderr.strip()}")
        return result.stdout

    def screen(self) -> str:
        """The screen's text now, one line per row."""
        return self._tmux("capture-pane", "-p", "-t", "app")

    def keys(self, *keys: str, settle: float = 0.3) -> None:
        """Press tmux key names (`Enter`, `Escape`, `C-s`, `j`, ...), then wait `settle` s."""
        self._tmux("send-keys", "-t", "app", *keys)
        time.sleep(settle)

    def type(self, text: str, settle: float = 0.3) -> None:
        """Type `text` literally, as fast as a paste."""
        self._tmux("send-keys", "-t", "app", "-l", text)
        time.sleep(settle)

    def wait_for(self, text: str, seconds: float = 30.0) -> str:
        """Wait until `text` is on the screen (bounded); returns the screen, or fails."""
        deadline = time.monotonic() + seconds
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline or self.exit_status() is not None:
                raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}")
            time.sleep(0.1)

    def wait_until_gone(self, text: str, seconds: float = 30.0) -> str:
        """Wait until `text` is no longer on the screen (bounded)."""
        deadline = time.monotonic() + seconds
        while True:
            screen = self.screen()
            if text not in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} stayed on the screen:\n{screen}")
            time.sleep(0.1)

    def exit_status(self) -> int | None:
        """The program's exit status once it has ended; None while it runs."""
        dead, _, status = (
            self._tmux("display-message", "-p", "-t", "app", "#{pane_dead} #{pane_dead_status}")
            .strip()
            .partition(" ")
        )
        return int(status) if dead == "1" and status else None

    def wait_for_exit(self, seconds: float = 30.0) -> int:
        """Wait (bounded) for the program to end; its exit status."""
        deadline = time.monotonic() + seconds
        while (status := self.exit_status()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the program did not exit; the screen:\n{self.screen()}")
            time.sleep(0.1)
        return status

    def close(self) -> None:
        """End the tmux server and everything in it."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):  # already gone
            self._tmux("kill-server")
