"""Time neomutt until the first page of the INBOX is on the screen, in a real terminal.

neomutt runs in a detached tmux session (a pty of 160x50) on a private tmux socket; the screen is
read with ``capture-pane`` every few milliseconds until the index shows the expected message count
in the status line and at least one message row. The figures are taken at that moment: wall time
since the session was started, and neomutt's own CPU time and peak RSS (``VmHWM``) from /proc,
since neomutt is a child of the tmux server, not of this process. Then the tmux server is killed
(neomutt with it).

By hand: ``python -m bench.neomutt NEOMUTTRC EXPECTED_COUNT`` prints one run's figures.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.terminal import proc_figures
from bench.timeit import Run

COLUMNS, LINES = 160, 50
POLL_SECONDS = 0.005
TIMEOUT = 300.0
TMUX_TIMEOUT = 30.0  # one tmux command (it answers in milliseconds)
# An index row: message number, flags, date... e.g. "   1 O   Jan 01 Grace Smith  (  42) ..."
INDEX_ROW = re.compile(r"^\s*\d+\s", re.MULTILINE)
# What a run raises when it cannot measure (a bound passed, tmux failed, neomutt left).
FAILURES = (TimeoutError, RuntimeError, subprocess.SubprocessError, OSError)


def _tmux(socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["tmux", "-S", str(socket), *args],
        capture_output=True, text=True, timeout=TMUX_TIMEOUT, check=False,
    )  # fmt: skip


def first_page(neomuttrc: Path, expected: int, *, timeout: float = TIMEOUT) -> Run:
    """One run: start neomutt in tmux, wait for the index with ``expected`` messages.

    Every wait is bounded: each tmux command by TMUX_TIMEOUT (subprocess.TimeoutExpired), the
    index by ``timeout`` (TimeoutError, with the screen); neomutt gone before its index raises
    RuntimeError."""
    directory = Path(tempfile.mkdtemp(prefix="tuimail-bench-tmux-"))
    socket = directory / "socket"
    wanted = f"Msgs:{expected}"
    env = {**os.environ, "HOME": str(directory), "TERM": "xterm-256color"}
    try:
        started = time.monotonic()
        subprocess.run(
            ["tmux", "-S", str(socket), "-f", "/dev/null", "new-session", "-d",
             "-x", str(COLUMNS), "-y", str(LINES), f"exec neomutt -n -F '{neomuttrc}'"],
            check=True, timeout=TMUX_TIMEOUT, env=env,
        )  # fmt: skip
        answer = _tmux(socket, "display-message", "-p", "#{pane_pid}").stdout.strip()
        if not answer.isdigit():
            raise RuntimeError(f"neomutt exited at once (tmux: {answer!r})")
        pid = int(answer)
        screen = ""
        while True:
            capture = _tmux(socket, "capture-pane", "-p")
            if capture.returncode != 0:  # the session ended with neomutt
                raise RuntimeError(f"neomutt exited before its index:\n{screen}")
            screen = capture.stdout
            if wanted in screen and INDEX_ROW.search(screen):
                wall = time.monotonic() - started
                cpu, peak = proc_figures(pid)
                return Run(wall=wall, cpu=cpu, peak_mib=peak, exit_code=0)
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"no index with {wanted} after {timeout:.0f} s:\n{screen}")
            time.sleep(POLL_SECONDS)
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _tmux(socket, "kill-server")
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Print one run's figures (exit 1 if the index did not appear)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        run = first_page(Path(args[0]), int(args[1]))
    except FAILURES as error:
        print(f"neomutt: {error}", file=sys.stderr)
        return 1
    print(f"wall {run.wall:.3f} s, cpu {run.cpu:.3f} s, peak {run.peak_mib:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
