"""A command a message (or one of its parts) is piped to: what the user asked for (`PipeJob`)
and what came of it (`PipeOutcome`), in words the output screen shows.

The UI builds the job and shows the outcome; the app runs the command in a worker
(tuimail/app/pipe.py), so the UI never waits for it. The command runs without a shell: the line
typed is split like a shell's words (`shlex`), nothing is expanded; a user who wants a shell
types `sh -c '...'`.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass, field

from tuimail.mail.sanitize import sanitize

OUTPUT_LIMIT = 256 * 1024  # bytes of output kept and shown; the rest is read and dropped
PIPE_TIMEOUT = 120.0  # seconds a command may run before it is stopped


def split_command(line: str) -> list[str]:
    """The command's words, split like a shell's (quotes, backslashes), nothing expanded.
    Raises ValueError, in words, for an unclosed quote."""
    try:
        words = shlex.split(line)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise ValueError(f"the command cannot be read: {str(exc).lower()}") from None
    return words


@dataclass
class PipeJob:
    """A command to run with `data` on its standard input; `label` says what the data is (the
    message, or an attachment's name). `cancel` stops it (the output screen sets it)."""

    argv: list[str]
    data: bytes
    label: str
    timeout: float = PIPE_TIMEOUT
    limit: int = OUTPUT_LIMIT
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class PipeOutcome:
    """How a piped command ended: its output (stdout and stderr together, at most the limit)
    and its exit status; or why it did not run or was stopped."""

    output: bytes = b""
    truncated: bool = False  # more output came than the limit kept
    status: int | None = None  # the exit status (negative: killed by that signal)
    timed_out: bool = False
    cancelled: bool = False
    error: str = ""  # the command could not start, in words

    def summary(self, timeout: float = PIPE_TIMEOUT) -> str:
        """One line: how the command ended."""
        if self.error:
            return f"Not run: {self.error}."
        if self.timed_out:
            return f"Stopped after {timeout:g} seconds (the time a command may take)."
        if self.cancelled:
            return "Cancelled."
        if self.status is not None and self.status < 0:
            return f"Ended by signal {-self.status}."
        return f"Exit status {self.status}."

    def text(self) -> str:
        """The output as safe text: decoded (UTF-8, invalid bytes replaced), controls removed."""
        shown = sanitize(self.output.decode("utf-8", errors="replace"))
        if self.truncated:
            shown += f"\n[… output cut after {len(self.output) // 1024} KiB]"
        return shown
