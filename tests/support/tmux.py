"""The app in a real terminal emulator (tmux), driven by keys and read back as a screen.

`TmuxApp` starts a private tmux server (its own socket, no user configuration) with one window
of a fixed size running a command, types keys into it with `send-keys`, and reads the screen
with `capture-pane`: what a person in front of the terminal would see, row by row, after tmux
has interpreted every sequence the program wrote. The program runs under a small shell that waits
for it and writes its exit status to a file, as a login shell would get it back: the program has
ended when it has ended, whether or not something it started still holds the terminal
(`terminal_holders` says which processes do).
"""

from __future__ import annotations

import contextlib
import os
import signal
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
        self.status_file = socket_dir / "exit-status"
        # The shell waits for the program and records its status (then exits itself).
        waiting = ["/bin/sh", "-c", '"$@"; echo $? > "$STATUS_FILE"', "sh", *argv]
        # COLUMNS and LINES would override the window's size for the program (Python's
        # shutil.get_terminal_size reads them first); the test process can have them without a
        # terminal of its own (GNU readline sets them when loaded, and a subprocess inherits them).
        full_env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("TUIMAIL_", "TMUX")) and k not in ("COLUMNS", "LINES")
            },
            **env,
            "STATUS_FILE": str(self.status_file),
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
            *waiting,
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
        try:
            text = self.status_file.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def terminal_holders(self) -> list[str]:
        """The processes that still have the window's terminal open (`pid command` each)."""
        tty = self._tmux("display-message", "-p", "-t", "app", "#{pane_tty}").strip()
        holders = []
        for process in Path("/proc").iterdir():
            if not process.name.isdigit():
                continue
            try:
                held = any(os.readlink(fd) == tty for fd in (process / "fd").iterdir())
                command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:  # gone meanwhile, or not ours to look at
                continue
            if held:
                holders.append(f"{process.name} {command.strip()}")
        return holders

    def wait_for_exit(self, seconds: float = 30.0) -> int:
        """Wait (bounded) for the program to end; its exit status."""
        deadline = time.monotonic() + seconds
        while (status := self.exit_status()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the program did not exit; it was at:\n{self._stacks()}")
            time.sleep(0.1)
        return status

    def _stacks(self) -> str:
        """End a stuck program with SIGABRT and return what the window then shows: with
        PYTHONFAULTHANDLER set, Python writes every thread's stack there before it dies."""
        shell = self._tmux("display-message", "-p", "-t", "app", "#{pane_pid}").strip()
        children = Path(f"/proc/{shell}/task/{shell}/children")
        with contextlib.suppress(OSError, ValueError):
            for pid in children.read_text().split():
                os.kill(int(pid), signal.SIGABRT)
            time.sleep(1.0)
        return self._tmux("capture-pane", "-p", "-S", "-300", "-t", "app")

    def close(self) -> None:
        """End the tmux server and everything in it."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):  # already gone
            self._tmux("kill-server")
