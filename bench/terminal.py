"""A program in a real terminal: a detached tmux session, read and driven over one control client.

The program runs in a tmux pane of COLUMNS x LINES (no status line) on a private socket with
TERM=xterm-256color and a UTF-8 locale. The screen is read with ``capture-pane`` and keys are sent
with ``send-keys``, both over one tmux control-mode client (``tmux -C``) that stays attached for
the whole run: a command costs a round trip on a Unix socket (a fraction of a millisecond)
instead of starting a tmux client process (a few milliseconds), so the screen can be read about
as often as the program can paint. The control client receives no pane output
(``refresh-client -f no-output``) and does not size the window (control clients have no size).

The program is the pane's process (``exec``): its CPU time and peak RSS (``VmHWM``) are read from
/proc while it runs, since it is a child of the tmux server, not of this process.

No wait is without a bound: starting the session, attaching the control client and every
command's answer each have COMMAND_TIMEOUT (a tmux that stops answering raises TerminalError),
and ``wait_for`` its own timeout (TimeoutError, with the screen).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from bench.pipes import LineReader

COLUMNS, LINES = 160, 50
TIMEOUT = 300.0
# tmux answers a command in well under a millisecond; one that has not answered in this long
# will not (the tmux server is stuck or gone): the command fails instead of waiting on.
COMMAND_TIMEOUT = 30.0
# A control-mode reply is framed by "%begin TIME NUMBER FLAGS" and "%end"/"%error" with the same
# three fields; other lines starting with "%" outside a frame are notifications.
_FRAME_END = re.compile(r"^%(end|error) (\S+ \S+ \S+)$")


class TerminalError(RuntimeError):
    """tmux failed, or the program left the terminal."""


def proc_figures(pid: int) -> tuple[float, float]:
    """(user+sys CPU seconds, peak RSS MiB) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15)
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return cpu, (int(found.group(1)) / 1024 if found else 0.0)


class Terminal:
    """One program in a fresh tmux server; use as a context manager (the server is killed at
    the end, the program with it)."""

    def __init__(
        self, command: str, *, env: Mapping[str, str] | None = None, home: Path | None = None
    ) -> None:
        self.command = command
        self.directory = Path(tempfile.mkdtemp(prefix="tuimail-bench-tmux-"))
        self.socket = self.directory / "socket"
        conf = self.directory / "tmux.conf"
        conf.write_text("set -g status off\n")  # the whole 160x50 is the program's
        self.env = {
            **os.environ,
            **(env or {}),
            "HOME": str(home or self.directory),
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        self._conf = conf
        self._control: subprocess.Popen[bytes] | None = None
        self._lines: LineReader | None = None
        self.started = 0.0
        self.pid = 0

    # --- life -------------------------------------------------------------------------------------
    def start(self) -> float:
        """Start the session; returns the monotonic time just before (the runs' zero).

        Raises TerminalError when tmux does not start, or does not answer within
        COMMAND_TIMEOUT."""
        self.started = time.monotonic()
        try:
            subprocess.run(
                ["tmux", "-u", "-S", str(self.socket), "-f", str(self._conf), "new-session",
                 "-d", "-x", str(COLUMNS), "-y", str(LINES), self.command],
                check=True, timeout=COMMAND_TIMEOUT, env=self.env,
            )  # fmt: skip
            self._control = subprocess.Popen(
                ["tmux", "-u", "-S", str(self.socket), "-C", "attach"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=self.env,
            )
        except (subprocess.SubprocessError, OSError) as error:
            raise TerminalError(f"tmux did not start the session: {error}") from None
        assert self._control.stdout is not None
        self._lines = LineReader(self._control.stdout)
        self._attached()
        self.run_command("refresh-client -f no-output")
        answer = self.run_command("display-message -p '#{pane_pid}'")
        try:
            self.pid = int(answer[0])
        except (IndexError, ValueError):
            raise TerminalError(f"tmux did not tell the program's pid: {answer!r}") from None
        return self.started

    def close(self) -> None:
        """Kill the tmux server (and the program) and remove the socket's directory."""
        if self._control is not None:
            try:
                self._control.stdin.close()  # type: ignore[union-attr]
                self._control.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._control.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._control.wait(timeout=5)
            self._control = None
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                ["tmux", "-S", str(self.socket), "kill-server"],
                capture_output=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # --- control client ---------------------------------------------------------------------------
    def _readline(self, deadline: float, what: str) -> str:
        """The control client's next line, by ``deadline``; TerminalError otherwise."""
        if self._lines is None:
            raise TerminalError("the terminal is not started")
        try:
            line = self._lines.readline(deadline)
        except TimeoutError:
            raise TerminalError(
                f"tmux did not answer {what} within {COMMAND_TIMEOUT:.0f} s"
            ) from None
        except OSError as error:
            raise TerminalError(f"tmux went away: {error}") from None
        if line is None:
            raise TerminalError("tmux went away (the program may have exited)")
        return line

    def _attached(self) -> None:
        """Wait until the control client is attached to the session (before that, tmux
        answers a command with "no current client"); at most COMMAND_TIMEOUT."""
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while True:
            line = self._readline(deadline, "the control client's attach")
            if line.startswith("%exit"):
                raise TerminalError("tmux went away (the program may have exited)")
            if line.startswith("%session-changed"):
                return

    def run_command(self, command: str) -> list[str]:
        """One tmux command over the control client; its output lines. TerminalError if tmux
        does not answer within COMMAND_TIMEOUT."""
        control = self._control
        if control is None or control.stdin is None:
            raise TerminalError("the terminal is not started")
        try:
            # A command line is a few bytes into a pipe that tmux drains: this does not block
            # for long (a tmux that stopped reading would first leave a command unanswered).
            control.stdin.write((command + "\n").encode())
            control.stdin.flush()
        except OSError as error:
            raise TerminalError(f"tmux went away: {error}") from None
        deadline = time.monotonic() + COMMAND_TIMEOUT
        output: list[str] = []
        frame: str | None = None
        while True:
            line = self._readline(deadline, repr(command))
            if frame is None:
                if line.startswith("%begin "):
                    frame = line[len("%begin ") :]
                elif line.startswith("%exit"):
                    raise TerminalError("tmux went away (the program may have exited)")
                continue  # a notification
            ended = _FRAME_END.match(line)
            if ended and ended.group(2) == frame:
                if ended.group(1) == "error":
                    raise TerminalError(f"tmux {command!r}: {' '.join(output)}")
                if frame.endswith(" 1"):  # flags 1: the reply to our command
                    return output
                frame, output = None, []  # a reply to tmux's own start-up command
                continue
            output.append(line)

    def screen(self) -> str:
        """The visible screen, one line per row."""
        return "\n".join(self.run_command("capture-pane -p"))

    def keys(self, *keys: str, literal: bool = False) -> None:
        """Send keys (tmux key names such as PageDown, End, Enter; or text with `literal`)."""
        quoted = " ".join("'" + key.replace("'", "'\\''") + "'" for key in keys)
        self.run_command(f"send-keys {'-l ' if literal else ''}{quoted}")

    def wait_for(
        self, condition: Callable[[str], bool], *, timeout: float = TIMEOUT, what: str = ""
    ) -> tuple[float, str]:
        """Read the screen as fast as tmux answers until `condition(screen)` holds; returns
        (the monotonic time of the read that showed it, that screen)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while True:
            screen = self.screen()
            now = time.monotonic()
            if condition(screen):
                return now, screen
            if now > deadline:
                raise TimeoutError(f"not on the screen after {timeout:.0f} s: {what}\n{screen}")
            if not Path(f"/proc/{self.pid}").exists():
                raise TerminalError(f"the program exited while waiting for {what}:\n{screen}")

    def figures(self) -> tuple[float, float]:
        """(CPU seconds, peak RSS MiB) of the program so far."""
        return proc_figures(self.pid)


def contains_all(*needles: str) -> Callable[[str], bool]:
    """A screen condition: every one of the strings is on the screen."""
    return lambda screen: all(needle in screen for needle in needles)


def any_line(patterns: Sequence[re.Pattern[str]]) -> Callable[[str], bool]:
    """A screen condition: every pattern matches some line of the screen."""
    return lambda screen: all(pattern.search(screen) for pattern in patterns)
