"""New-mail notifications: which folders announce, how often, and the desktop channel.

The engines emit `NewMail(account, folder_id, count)` once per folder and pass (the IMAP engine
never for a folder's first sync; the POP3 engine marks a maildrop's first download `first`, which
the app drops). The app asks `news_for` (in a worker thread, on a store
connection of its own) whether the folder announces (`accounts.NAME.notify_folders`) and what
the newest message is; `NewsGate` lets one notification per folder through every
`notify.min_interval` seconds and counts what arrives meanwhile into the next one. The in-app
notification is the app's; the desktop one is `notify-send` (run without a shell, plain text,
markup escaped, options ended by ``--``) or the terminal's own escape sequence where the terminal
is known to show it. Every text here comes from `tuimail.mail.sanitize`.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tuimail.config.patterns import folder_notifies
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.store.db import open_store

APP_NAME = "tuimail"
NOTIFY_SEND_TIMEOUT = 10.0  # seconds; notify-send waits for the notification daemon
MAX_TEXT = 200  # characters of a summary or body line


@dataclass(frozen=True, slots=True)
class News:
    """One announcement: `count` new messages in account/folder; sender and subject of the
    newest, sanitized ('' when unknown)."""

    account: str
    folder: str
    count: int
    sender: str = ""
    subject: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.folder)

    def summary(self) -> str:
        noun = "message" if self.count == 1 else "messages"
        return _short(f"{self.count} new {noun} in {self.account}/{self.folder}")

    def body(self) -> str:
        if self.sender and self.subject:
            return _short(f"{self.sender}: {self.subject}")
        return _short(self.sender or self.subject)


def _short(text: str) -> str:
    text = sanitize_line(text).strip()
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def news_for(
    data_dir: Path, account: str, folder_id: int, count: int, patterns: Sequence[str]
) -> News | None:
    """What to announce for `count` new messages in a folder, or None when the folder does not
    announce (a first download never gets here: see `NewMail.first`). Any thread: opens its own
    connection."""
    if count <= 0 or not patterns:
        return None
    conn = open_store(data_dir)
    try:
        folder = read.folder(conn, folder_id)
        if folder is None:
            return None
        # A pattern may be written with the full name or the name shown ("Lists.*" for
        # "INBOX.Lists.dev" where the server's folders all begin with "INBOX.").
        names = (folder.name, folder.display_name, "/".join(folder.path))
        if not any(folder_notifies(patterns, name) for name in names if name):
            return None
        # The messages just stored have the highest ids; the newest of them by date is named.
        fresh = sorted(read.message_ids(conn, folder_id))[-count:]
        rows = read.rows(conn, fresh)
    finally:
        conn.close()
    news = News(account, sanitize_line(folder.display_name), count)
    if rows:
        newest = max(
            rows, key=lambda r: r.envelope.date.timestamp() if r.envelope.date else float("-inf")
        )
        sender = newest.envelope.from_[0] if newest.envelope.from_ else None
        name = (sender.name or sender.email) if sender is not None else ""
        news = replace(news, sender=_short(name), subject=_short(newest.envelope.subject))
    return news


class NewsGate:
    """At most one notification per folder every `min_interval` seconds; news that arrives
    inside the interval is held, added up, and let out by `release` when the interval ends."""

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], News] = {}

    def offer(self, news: News) -> tuple[News | None, float | None]:
        """(news to announce now, or None) and, when it was held and no release is due yet,
        the seconds after which `release` should be called for its folder."""
        key = news.key
        now = self._clock()
        held = self._held.get(key)
        if held is not None:
            self._held[key] = replace(news, count=held.count + news.count)
            return None, None  # a release is already due
        last = self._last.get(key)
        if last is None or now - last >= self.min_interval:
            self._last[key] = now
            return news, None
        self._held[key] = news
        return None, self.min_interval - (now - last)

    def release(self, key: tuple[str, str]) -> News | None:
        """The news held for `key` (added up), to announce now; None if nothing is held."""
        news = self._held.pop(key, None)
        if news is not None:
            self._last[key] = self._clock()
        return news


# --- the desktop channel --------------------------------------------------------------------

TERMINAL_OSC9 = "osc9"  # iTerm2
TERMINAL_OSC777 = "osc777"  # foot, WezTerm, Ghostty (urxvt's notify extension)
TERMINAL_OSC99 = "osc99"  # kitty


@dataclass(frozen=True, slots=True)
class Desktop:
    """How desktop notifications go out: `program` (notify-send's path) or `terminal` (the
    escape sequence kind); neither: none."""

    program: str | None = None
    terminal: str | None = None


def terminal_protocol(env: Mapping[str, str]) -> str | None:
    """The notification escape the terminal is known to show, or None (unknown terminals, and
    tmux or screen, which do not pass OSC sequences on by default, get none)."""
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "")
    if env.get("TMUX") or term.startswith(("screen", "tmux")) or program == "tmux":
        return None
    if program == "iTerm.app":
        return TERMINAL_OSC9
    if program in ("WezTerm", "ghostty") or term.startswith(("foot", "xterm-ghostty")):
        return TERMINAL_OSC777
    if term == "xterm-kitty" or env.get("KITTY_WINDOW_ID"):
        return TERMINAL_OSC99
    return None


def choose_desktop(
    setting: str,
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> Desktop:
    """The channel for `notify.desktop` ("auto", "notify-send", "terminal", "off")."""
    env = os.environ if env is None else env
    if setting == "off":
        return Desktop()
    program = which("notify-send") if setting in ("auto", "notify-send") else None
    if setting == "notify-send":
        return Desktop(program=program)
    graphical = bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    if setting == "auto" and program and graphical:
        return Desktop(program=program)
    return Desktop(terminal=terminal_protocol(env))


def notify_send_argv(program: str, news: News) -> list[str]:
    """notify-send's arguments: the body may be read as markup by the notification server, so
    it is escaped; '--' ends the options, so a subject starting with '-' stays text."""
    return [
        program,
        f"--app-name={APP_NAME}",
        "--category=email.arrived",
        "--",
        news.summary(),
        html.escape(news.body(), quote=False),
    ]


def run_notify_send(argv: Sequence[str]) -> str | None:
    """Run notify-send (no shell, no terminal); a problem as one line, or None."""
    try:
        result = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=NOTIFY_SEND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"notify-send did not finish within {NOTIFY_SEND_TIMEOUT:g} s"
    except OSError as exc:
        return f"notify-send could not be started: {exc.strerror or exc}"
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = sanitize_line(lines[-1]).strip()[:200] if lines else ""
        return f"notify-send failed with exit status {result.returncode}" + (
            f": {detail}" if detail else ""
        )
    return None


def terminal_sequence(protocol: str, news: News) -> str:
    """The escape sequence that asks the terminal for a notification. The texts are sanitized
    (no ESC, BEL or C1 can end the sequence early) and a ';' cannot start a new field."""
    title = news.summary().replace(";", ",")
    body = news.body()
    if protocol == TERMINAL_OSC9:
        # The app's name first: "9;4;..." would be read as a progress report by some terminals.
        text = f"{APP_NAME}: {title}" + (f" ({body})" if body else "")
        return f"\x1b]9;{text}\x07"
    if protocol == TERMINAL_OSC777:
        return f"\x1b]777;notify;{title};{body}\x07"
    if protocol == TERMINAL_OSC99:
        text = title + (f": {body}" if body else "")
        return f"\x1b]99;;{text}\x1b\\"
    raise ValueError(f"unknown terminal notification protocol {protocol!r}")
