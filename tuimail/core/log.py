"""Logging set-up, with secrets redacted from every line that any handler writes.

`register_secret()` is called by `tuimail.auth.secrets` for every password it hands out (and by the
connection helpers for the exact AUTH strings they send). Redaction happens in the formatter, so it
covers messages, arguments and tracebacks alike, and it also catches the secret inside base64 (AUTH
PLAIN, AUTH LOGIN, XOAUTH2), at whatever offset the encoder put it. In plain text the secret is
redacted where it stands as a token, not inside other words (see `_as_token`). See
docs/logging.md.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from tuimail.core.paths import private_dir, tighten_file

REDACTED = "<redacted>"
# A core of base64 shorter than this would match ordinary text by chance.
_MIN_CORE = 4
_B64_CHARS = "A-Za-z0-9+/="

_lock = threading.Lock()
_patterns: list[re.Pattern[str]] = []
_known: set[str] = set()


def base64_cores(secret: bytes) -> list[str]:
    """The base64 text that must appear wherever `secret` is base64-encoded inside anything.

    A base64 encoder works on 3-byte groups, so the secret's encoding depends on its offset modulo
    3. For each offset, the groups that hold only secret bytes encode to the same characters in any
    enclosing string: those are the cores.
    """
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode("ascii")
        first_full_group = 1 if offset else 0
        full_groups = (offset + len(secret)) // 3
        core = encoded[first_full_group * 4 : full_groups * 4]
        if len(core) >= _MIN_CORE:
            cores.append(core)
    return cores


# The plain secret is redacted where it stands as a token of its own ("PASS keyring",
# "password='keyring'", "user:keyring@host"), never inside a longer word: replacing "keyring" in
# "gnome-keyring" would only show the password to whoever reads "gnome-<redacted>". A word
# character next to it, or a joiner (- . /) with a word character beyond, makes it part of a word.
_NOT_AFTER_WORD = r"(?<!\w)(?<!\w[-./])"
_NOT_BEFORE_WORD = r"(?!\w)(?![-./]\w)"


def _as_token(pattern: str) -> str:
    return f"{_NOT_AFTER_WORD}(?:{pattern}){_NOT_BEFORE_WORD}"


def register_secret(secret: str | bytes) -> None:
    """Make sure `secret` (and its base64 forms) never appears in any log line from now on."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not raw:
        return
    text = raw.decode("utf-8", "replace")
    with _lock:
        if text in _known:
            return
        _known.add(text)
        alternatives = [_as_token(re.escape(text))]
        for core in base64_cores(raw):
            alternatives.append(f"[{_B64_CHARS}]*{re.escape(core)}[{_B64_CHARS}]*")
        # repr() of bytes or str shows some characters escaped; cover that spelling too.
        escaped = repr(text)[1:-1]
        if escaped != text:
            alternatives.append(_as_token(re.escape(escaped)))
        _patterns.append(re.compile("|".join(alternatives)))


def redact(text: str) -> str:
    """Replace every registered secret, plain or base64-encoded, in `text`."""
    for pattern in _patterns:
        text = pattern.sub(REDACTED, text)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter whose output never contains a registered secret."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
CONSOLE_FORMAT = "tuimail: %(levelname)s: %(message)s"
# A record logged with extra={SHOWN: True} was already printed to the terminal by the caller.
SHOWN = "tuimail_shown_on_terminal"


class _NotShownYet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, SHOWN, False)


class LiveLine(Protocol):
    """A line a command redraws in place on the terminal (`cli.progress.TerminalProgress`)."""

    def hide(self) -> None:
        """Take the line away: the cursor is at the start of an empty line."""

    def show(self) -> None:
        """Draw the line again after what was written in its place."""


_live_line: weakref.ref[LiveLine] | None = None


def set_live_line(line: LiveLine | None) -> None:
    """Say which line is drawn in place on the terminal now (None: none). Log lines written to
    the terminal take it away first and draw it again after them, so a warning starts a line
    of its own instead of running on from the progress text. Held weakly: a command's progress
    that is gone takes its line with it."""
    global _live_line
    _live_line = None if line is None else weakref.ref(line)


class _ConsoleHandler(logging.StreamHandler):
    """The terminal's handler: it writes around the line drawn in place (`set_live_line`)."""

    def emit(self, record: logging.LogRecord) -> None:
        line = _live_line() if _live_line is not None else None
        if line is None:
            super().emit(record)
            return
        line.hide()
        try:
            super().emit(record)
        finally:
            line.show()


def setup_logging(log_file: Path | None = None, debug: bool = False) -> None:
    """Configure the root logger for a command.

    Warnings and errors go to stderr (everything with `debug` and no log file). A log file
    gets INFO and up (everything with `debug`); it is 0600 since it may hold private mail
    (an existing one is made so), and directories made for it are 0700. The directory the user
    chose for it keeps its mode when it exists: it may be the home directory.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    level = logging.DEBUG if debug else logging.INFO
    if log_file is not None:
        log_file = log_file.expanduser()
        private_dir(log_file.parent, tighten=False)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            tighten_file(fd)
        finally:
            os.close(fd)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(level)
        file_handler.setFormatter(RedactingFormatter(LOG_FORMAT))
        root.addHandler(file_handler)
    # The terminal always gets warnings and errors; everything only with `debug` and no file
    # (the protocol conversation then goes to the file, not across the terminal).
    console = _ConsoleHandler(sys.stderr)
    verbose = debug and log_file is None
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(RedactingFormatter(LOG_FORMAT if verbose else CONSOLE_FORMAT))
    console.addFilter(_NotShownYet())
    root.addHandler(console)
    root.setLevel(level)
    logging.captureWarnings(True)


HELD_RECORDS = 200  # log lines kept while the app owns the terminal; the oldest go beyond


class _Held(logging.Handler):
    """Keeps the records a terminal handler would have written, the newest `HELD_RECORDS`."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if len(self.records) > HELD_RECORDS:
            del self.records[0]
            self.dropped += 1


@contextlib.contextmanager
def terminal_log_held() -> Iterator[None]:
    """While the app draws on the terminal: log lines meant for the terminal are held, not
    written across the screen (the app shows failures itself), and printed when it has ended.

    Handlers writing to a file stay as they are.
    """
    root = logging.getLogger()
    terminal: list[logging.Handler] = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler)
        and not isinstance(h, logging.FileHandler)
        and h.stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
    ]
    holders: list[tuple[logging.Handler, _Held]] = []
    for handler in terminal:
        held = _Held(handler.level)
        for kept_filter in handler.filters:
            held.addFilter(kept_filter)
        root.removeHandler(handler)
        root.addHandler(held)
        holders.append((handler, held))
    try:
        yield
    finally:
        for handler, held in holders:
            root.removeHandler(held)
            root.addHandler(handler)
            if held.dropped:
                handler.handle(
                    logging.makeLogRecord(
                        {
                            "name": __name__,
                            "levelno": logging.WARNING,
                            "levelname": "WARNING",
                            "msg": "%d earlier log lines of this run are left out",
                            "args": (held.dropped,),
                        }
                    )
                )
            for record in held.records:
                handler.handle(record)
