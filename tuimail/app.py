"""TuimailApp: the one place where the UI meets the rest (store connection, themes, workers).

Engines run in thread workers, one account at a time per account, and report through `emit`;
the app turns their events into the UI's own messages (ui/messages.py) and posts them to the
main screen, which re-queries the store. Widgets never see an engine, a socket or a password.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.message import Message

from tuimail.config import AccountConfig, Config
from tuimail.mail.sanitize import sanitize_line
from tuimail.model import Protocol
from tuimail.paths import config_location
from tuimail.store.db import StoreError, open_store
from tuimail.sync.events import (
    AuthNeeded,
    Event,
    NewMail,
    StoreChanged,
    SyncFailed,
    SyncFinished,
    SyncProgress,
    SyncStarted,
)
from tuimail.themes import DEFAULT_THEME, load_themes
from tuimail.ui.messages import AccountState, AccountStatus, StoreUpdated, UserNotice
from tuimail.ui.screens.main import MainScreen

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 300.0


class TuimailApp(App[int]):
    """The terminal app on the store in `data_dir`."""

    CSS_PATH = "ui/tuimail.tcss"
    TITLE = "tuimail"
    BINDINGS = [Binding("ctrl+r", "get_mail", "Get mail")]

    def __init__(
        self,
        config: Config,
        data_dir: Path,
        *,
        title: str | None = None,
        clock: Callable[[], datetime] | None = None,
        start_workers: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.data_dir = data_dir
        self.clock = clock
        self.start_workers = start_workers
        if title:
            self.title = title
        self._theme_problems: list[str] = []
        self._register_themes()
        # Set on exit: engines check it between batches and stop cleanly.
        self._cancel = threading.Event()
        self._running: set[str] = set()
        self._running_lock = threading.Lock()

    def _register_themes(self) -> None:
        user_dir = config_location().path.parent / "themes"
        loaded = load_themes(user_dir)
        for theme in loaded.themes:
            self.register_theme(theme)
        self._theme_problems = loaded.problems
        wanted = self.config.ui.theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self._theme_problems.append(f"unknown theme {wanted!r}; using {DEFAULT_THEME}")
            self.theme = DEFAULT_THEME

    def on_mount(self) -> None:
        # One store connection, owned by the UI thread (the store allows one per thread).
        self.conn = open_store(self.data_dir)
        self.main_screen = MainScreen(self.conn, self.clock)
        self.push_screen(self.main_screen)
        if self._theme_problems:
            self.notify(
                "\n".join(self._theme_problems), title="Themes", severity="warning", markup=False
            )
        if self.start_workers:
            self._schedule_mail_workers()

    def on_unmount(self) -> None:
        self._cancel.set()
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()

    # --- workers ---------------------------------------------------------------------------

    def _fetching_accounts(self) -> list[AccountConfig]:
        """Accounts whose mail a worker downloads (POP3 for now)."""
        return [
            a
            for a in self.config.accounts.values()
            if a.incoming is not None and a.incoming.protocol is Protocol.POP3
        ]

    def _schedule_mail_workers(self) -> None:
        for account in self._fetching_accounts():
            assert account.incoming is not None
            interval = float(getattr(account.incoming, "interval", DEFAULT_POLL_SECONDS))
            self.set_interval(interval, partial(self.start_fetch, account.name))
            self.start_fetch(account.name)

    def action_get_mail(self) -> None:
        """Fetch every account now (the periodic timers go on as before)."""
        accounts = self._fetching_accounts()
        if not accounts:
            self.notify("No POP3 account to fetch from.", markup=False)
        for account in accounts:
            self.start_fetch(account.name)

    def start_fetch(self, name: str) -> None:
        """Start a fetch of account `name` in a thread worker, unless one is running."""
        with self._running_lock:
            if name in self._running:
                return
            self._running.add(name)
        self.run_worker(
            partial(self._fetch_in_thread, self.config.accounts[name]),
            thread=True,
            group=f"mail-{name}",
            name=f"fetch {name}",
            exit_on_error=False,
        )

    def _fetch_in_thread(self, account: AccountConfig) -> None:
        """Worker thread: one POP3 pass over `account`. Failures arrive as events."""
        from tuimail.secrets import get_password
        from tuimail.sync.pop3 import Pop3Download

        try:
            Pop3Download(
                account,
                self.data_dir,
                emit=self.emit,
                cancel=self._cancel,
                password=lambda: get_password(account, Protocol.POP3),
            ).run()
        except Exception as exc:  # the engine reports its own failures; this is a bug
            log.exception("fetch of %s crashed", account.name)
            self.emit(SyncFailed(account.name, Protocol.POP3, "internal", f"internal error: {exc}"))
        finally:
            with self._running_lock:
                self._running.discard(account.name)

    def emit(self, event: Event) -> None:
        """Any thread: turn an engine event into UI messages (post_message is thread-safe)."""
        for message in ui_messages_for(event):
            target = getattr(self, "main_screen", None)
            if isinstance(message, UserNotice) or target is None:
                self.post_message(message)
            else:
                target.post_message(message)

    @on(UserNotice)
    def _user_notice(self, notice: UserNotice) -> None:
        self.notify(
            notice.text,
            title=notice.title,
            severity="error" if notice.error else "information",
            markup=False,
        )


def ui_messages_for(event: Event) -> list[Message]:
    """The UI messages that show an engine event (text sanitized here, once)."""
    match event:
        case StoreChanged():
            return [StoreUpdated(event.folder_ids)]
        case SyncStarted():
            return [AccountStatus(event.account, AccountState.BUSY, "getting mail…")]
        case SyncProgress():
            where = f"{sanitize_line(event.folder)} " if event.folder else ""
            text = f"getting mail: {where}{event.done}/{event.total}"
            return [AccountStatus(event.account, AccountState.BUSY, text)]
        case SyncFinished():
            stamp = datetime.now().strftime("%H:%M")
            text = f"{sanitize_line(event.summary)} ({stamp})"
            return [AccountStatus(event.account, AccountState.IDLE, text)]
        case SyncFailed() | AuthNeeded():
            text = sanitize_line(event.message).strip()
            return [
                AccountStatus(event.account, AccountState.ERROR, text),
                UserNotice(
                    text, title=f"{event.account}: {event.protocol.value.upper()}", error=True
                ),
            ]
        case NewMail():
            noun = "message" if event.count == 1 else "messages"
            return [UserNotice(f"{event.count} new {noun}", title=event.account)]
    return []


def run_app(config: Config, data_dir: Path, *, title: str | None = None) -> int:
    """Run the app until the user quits; returns the exit status."""
    try:
        app = TuimailApp(config, data_dir, title=title)
        app.run()
    except StoreError as exc:
        log.error("%s", exc)
        print(f"tuimail: error: {exc}")
        return 1
    return app.return_code or 0
