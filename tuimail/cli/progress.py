"""Progress and summaries for headless commands (`tuimail fetch`, `tuimail sync`), from events.

On a terminal, one status line is rewritten in place (at most a few times a second); a log line
(a warning) takes it away, is written on a line of its own, and the status line is drawn again
below it (`log.set_live_line`). Elsewhere (cron, pipes, tests) nothing is printed until the
summary lines. Server text in events is already
sanitized by the engines; it is still passed through `sanitize_line` here, cheaply, to be safe.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from tuimail.cli.errors import EXIT_OK, exit_status
from tuimail.core.failure import FailureKind
from tuimail.core.log import set_live_line
from tuimail.mail.sanitize import sanitize_line
from tuimail.sync.events import (
    ActionsGivenUp,
    AuthNeeded,
    Event,
    SyncFailed,
    SyncFinished,
    SyncProgress,
    given_up_text,
)

_MIN_INTERVAL = 0.2  # seconds between redraws of the status line


class TerminalProgress:
    """An `emit` for headless commands: a live status line on a TTY, then one line per account.

    Thread-safe: engines may emit from worker threads.
    """

    # It prints each failure: the engine's log line of it stays off the terminal.
    failures_shown = True

    def __init__(self, out: TextIO, err: TextIO, *, live: bool | None = None) -> None:
        self.out = out
        self.err = err
        self.live = err.isatty() if live is None else live
        self.failures = 0
        self.status = EXIT_OK  # the worst exit status of an account so far
        self.successes = 0
        self.skipped = 0  # accounts another process was syncing
        # Reentrant: a log line written while the lock is held takes the line away too.
        self._lock = threading.RLock()
        self._last_draw = 0.0
        self._line_width = 0
        self._text = ""  # the status line as drawn last
        self._hidden = False  # taken away for a log line, to be drawn again
        if self.live:
            set_live_line(self)

    def __call__(self, event: Event) -> None:
        with self._lock:
            match event:
                case SyncProgress():
                    self._draw(event)
                case SyncFinished():
                    self.successes += 1
                    self._clear()
                    print(f"{event.account}: {sanitize_line(event.summary)}", file=self.out)
                case ActionsGivenUp():
                    # Said before the account's summary line, one line per action.
                    self._clear()
                    for action in event.actions:
                        print(f"{event.account}: {given_up_text(action)}", file=self.err)
                case SyncFailed() if exit_status(event.kind) == EXIT_OK:
                    # Another process (the app, another cron run) is syncing this account right
                    # now: it gets the mail, so this run has nothing to do and did not fail.
                    self.skipped += 1
                    self._clear()
                    print(
                        f"{event.account}: busy, skipped: {sanitize_line(event.message)}",
                        file=self.out,
                    )
                case SyncFailed() | AuthNeeded():
                    self.failures += 1
                    kind = event.kind if isinstance(event, SyncFailed) else FailureKind.AUTH_FAILED
                    self.status = max(self.status, exit_status(kind))
                    self._clear()
                    print(
                        f"{event.account}: {event.protocol.value.upper()} failed: "
                        f"{sanitize_line(event.message)}",
                        file=self.err,
                    )
                case _:
                    pass

    def _draw(self, event: SyncProgress) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if now - self._last_draw < _MIN_INTERVAL and event.done != event.total:
            return
        self._last_draw = now
        where = f"{event.account}/{sanitize_line(event.folder)}" if event.folder else event.account
        text = f"{where}: {event.done}/{event.total}"
        padding = " " * max(0, self._line_width - len(text))
        self.err.write(f"\r{text}{padding}")
        self.err.flush()
        self._line_width = len(text)
        self._text = text
        self._hidden = False

    def _clear(self) -> None:
        self._hidden = False
        if self.live and self._line_width:
            self.err.write("\r" + " " * self._line_width + "\r")
            self.err.flush()
            self._line_width = 0

    def hide(self) -> None:
        """Take the status line away before a log line is written in its place."""
        with self._lock:
            if self._line_width:
                self._clear()
                self._hidden = True

    def show(self) -> None:
        """Draw the status line again below the log line written in its place."""
        with self._lock:
            if self._hidden and self.live:
                self._hidden = False
                self.err.write(f"\r{self._text}")
                self.err.flush()
                self._line_width = len(self._text)

    def exit_status(self) -> int:
        """0 when every account went well or was being synced by another process (busy, skipped),
        else the exit status of the failures' kinds (`errors.exit_status`: 1)."""
        return self.status
