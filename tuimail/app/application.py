"""TuimailApp: the one place where the UI meets the rest (store connection, themes, workers).

Engines run in thread workers, one account at a time per account, and report through `emit`;
the app turns their events into the UI's own messages (ui/messages.py) and posts them to the
main screen, which re-queries the store. Widgets never see an engine, a socket or a password.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import sys
import threading
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.message import Message

from tuimail.app.notify import (
    News,
    NewsGate,
    choose_desktop,
    news_for,
    notify_send_argv,
    run_notify_send,
    terminal_sequence,
)
from tuimail.config.settings import AccountConfig, Config, ConfigError, add_account
from tuimail.core.log import SHOWN, register_secret, terminal_log_held
from tuimail.core.model import Address, Protocol
from tuimail.core.paths import config_location
from tuimail.mail.mailto import MailtoFields
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read, write
from tuimail.store.db import (
    StoreError,
    StoreFullError,
    failure,
    open_store,
    open_store_exclusively,
    store_path,
)
from tuimail.store.outbox import OutboxState
from tuimail.sync.events import (
    ActionsGivenUp,
    AuthNeeded,
    Event,
    MarkedDeleted,
    NewMail,
    StoreChanged,
    SyncFailed,
    SyncFinished,
    SyncProgress,
    SyncStarted,
    given_up_text,
)
from tuimail.ui.commands import TuimailCommands
from tuimail.ui.messages import (
    AccountState,
    AccountStatus,
    BodyFailed,
    BodyWanted,
    DeletedLeft,
    DraftSaved,
    IntentQueued,
    OpenWanted,
    OutboxQueued,
    SetupCheck,
    SetupSave,
    StoreUpdated,
    UserNotice,
)
from tuimail.ui.save import opener_command, run_opener
from tuimail.ui.screens.composer import Sender
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.setup import AccountSetupScreen
from tuimail.ui.themes import APP_VARIABLE_DEFAULTS, DEFAULT_THEME, load_themes

if TYPE_CHECKING:
    from tuimail.sync.discovery.autoconfig import Autoconfig
    from tuimail.ui.host import AppHost

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 300.0
SENDER_INTERVAL = 60.0


class _Slots:
    """Which keyed jobs (an account's sync, a message's body) run now, and which were asked for
    again while running. Thread-safe: jobs end in worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running: set[Hashable] = set()
        self._again: set[Hashable] = set()

    def claim(self, key: Hashable, *, remember: bool) -> bool:
        """True when the job may start; else, with `remember`, it runs once more afterwards."""
        with self._lock:
            if key in self.running:
                if remember:
                    self._again.add(key)
                return False
            self.running.add(key)
            return True

    def release(self, key: Hashable) -> bool:
        """The job ended; True when it was asked for again meanwhile."""
        with self._lock:
            self.running.discard(key)
            again = key in self._again
            self._again.discard(key)
            return again


class _RunOnAppThread(Message):
    """A callback a worker thread wants run on the app's thread (`call_from_worker`)."""

    def __init__(self, callback: Callable[[], object]) -> None:
        super().__init__()
        self.callback = callback


class NewMailArrived(Message):
    """An engine stored new messages in a folder: the app may announce them."""

    def __init__(self, account: str, folder_id: int, count: int) -> None:
        super().__init__()
        self.account = account
        self.folder_id = folder_id
        self.count = count


class TuimailApp(App[int]):
    """The terminal app on the store in `data_dir`."""

    CSS_PATH = "../ui/tuimail.tcss"
    TITLE = "tuimail"
    COMMANDS = App.COMMANDS | {TuimailCommands}
    BINDINGS = [
        Binding("ctrl+r", "get_mail", "Get mail", id="get-mail"),
        Binding("A", "add_account", "Add an account", show=False, id="add-account"),
    ]

    def __init__(
        self,
        config: Config,
        data_dir: Path,
        *,
        title: str | None = None,
        clock: Callable[[], datetime] | None = None,
        start_workers: bool = True,
        offer_setup: bool = False,
        offline: bool = False,
        demo: bool = False,
        compose: MailtoFields | None = None,
    ) -> None:
        super().__init__()
        self.compose_on_start = compose  # a mailto: link: the composer opens prefilled
        self.config = config
        self.data_dir = data_dir
        self.clock = clock
        # start_workers=False: no scheduled passes (tests drive the app), yet opening a message
        # still fetches its body; offline: nothing ever connects (`tuimail --offline`, the demo).
        self.offline = offline
        self.start_workers = start_workers and not offline
        self.demo = demo  # the demo's account is made up: it never sends, even online
        self.offer_setup = offer_setup  # with no account configured, open the setup screen
        if not offline:
            # Now, before Textual replaces sys.stderr: a download parses in worker processes,
            # which need multiprocessing's resource tracker, and it cannot start afterwards.
            from tuimail.store.indexer import start_process_helpers

            start_process_helpers()
        if title:
            self.title = title
        self._theme_problems: list[str] = []
        self._register_themes()
        if config.keys:
            self.set_keymap(dict(config.keys))  # [keys] in the config replaces default keys
        # Set on exit: engines check it between batches and stop cleanly.
        self._cancel = threading.Event()
        # One job of each kind per key at a time (per account; per message for bodies).
        self._mail_passes = _Slots()
        self._watchers = _Slots()
        self._senders = _Slots()
        self._bodies = _Slots()
        self._drafts = _Slots()
        # The store update posted to the main screen and not yet handled: later changes merge
        # into it (StoreUpdated.merge), so a burst of committed batches is one refresh.
        self._store_update: StoreUpdated | None = None
        self._store_update_lock = threading.Lock()
        # New-mail notifications: one per folder per interval; the desktop channel, if any.
        self._news_gate = NewsGate(config.notify.min_interval)
        self._desktop = choose_desktop(config.notify.desktop)
        self._desktop_failed = False
        # Set once quitting starts: keys typed after the quit key (in the same burst, already
        # queued behind it) must not act on a message the user is leaving.
        self._quitting = False
        self._said_drafts_offline = False
        # Started on a full disk: the store is open exclusively (open_store_exclusively) and
        # nothing that connects runs; the words say why.
        self.disk_full_start: str | None = None
        # A failure of the store that ended the app, in words: printed as one line on exit.
        self.store_failure: str | None = None

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

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        # One store connection, owned by the UI thread (the store allows one per thread).
        try:
            self.conn = open_store(self.data_dir)
        except StoreFullError as full:
            try:
                self.conn = open_store_exclusively(self.data_dir)
            except StoreError:
                raise full from None
            self.disk_full_start = (
                "The disk is full: tuimail started with your mail read-only. What needs saving "
                "says so; nothing is fetched or sent. Free some space, then start tuimail again."
            )
        self.main_screen = MainScreen(self.conn, self.clock)
        self.push_screen(self.main_screen)
        if self.disk_full_start is not None:
            self.main_screen.show_store_problem("disk full: read-only")
            self.notify(
                self.disk_full_start, title="Disk full", severity="error", timeout=30,
                markup=False,
            )  # fmt: skip
        if self._theme_problems:
            self.notify(
                "\n".join(self._theme_problems), title="Themes", severity="warning", markup=False
            )
        self._ensure_store_accounts()
        if self.offline:
            self._show_offline()
        if self.start_workers:
            self._schedule_mail_workers()
            self._schedule_senders()
        if not self.config.accounts and self.offer_setup:
            self.push_screen(
                AccountSetupScreen(
                    first_run=True,
                    lookup=self.find_account_settings,
                    authorize=self.authorize_account,
                    keyring_problem=self._keyring_problem(),
                )
            )
        elif self.compose_on_start is not None:
            self.main_screen.compose_prefilled(self.compose_on_start)

    def _ensure_store_accounts(self) -> None:
        """Every configured account exists in the store (the composer queues mail under it)."""
        known = {info.name: info.protocol for info in read.accounts(self.conn)}
        for account in self.config.accounts.values():
            protocol = account.incoming.protocol if account.incoming else None
            if account.name in known and known[account.name] is protocol:
                continue  # nothing to write (a full disk would refuse it)
            try:
                write.ensure_account(self.conn, account.name, protocol)
            except Exception as exc:
                problem = failure(exc, self.conn)
                if problem is None:
                    raise
                self.notify(str(problem), title=account.name, severity="error", markup=False)

    def _handle_exception(self, error: Exception) -> None:
        """A failure of the store (a corrupt or unreadable file, a full disk where nothing
        handled it) ends the app: `run_app` prints one line of words once the terminal is back,
        instead of a traceback (whose locals could hold message text)."""
        problem = failure(error, store_path(self.data_dir))
        if problem is None:
            super()._handle_exception(error)
            return
        if self.store_failure is None:
            self.store_failure = str(problem)
            if self._exception is None:  # as Textual does: a test (run_test) raises it
                self._exception = error
                self._exception_event.set()
            self.panic()  # ends the app at once, printing nothing itself

    def _fatal_error(self) -> None:
        """Any other crash: Textual's traceback, but without the values of local variables,
        which may hold a message's text or a draft."""
        from rich.traceback import Traceback

        self.bell()
        traceback = Traceback(show_locals=False, width=None)
        self.panic(traceback)

    def on_unmount(self) -> None:
        self._cancel.set()
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()

    # --- quitting: from the quit key on, no key or click reaches an action -------------------

    def exit(self, *args: Any, **kwargs: Any) -> None:
        """Start quitting; what the user types from now on is dropped, and the engines stop at
        their next check."""
        from tuimail.sync.deadline import abort_all

        self._quitting = True
        self._cancel.set()
        # An engine waiting on a slow server would keep the process alive until its command
        # timeout: its connection is closed under it instead.
        abort_all()
        super().exit(*args, **kwargs)

    # --- from a worker thread to the app: never wait for it -----------------------------------

    def call_from_worker(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Any worker thread: run `callback(*args, **kwargs)` on the app's thread soon, without
        waiting for it. Textual's `call_from_thread` waits for the result: a worker that ends
        while the app is quitting would wait for ever on a loop that no longer runs, and the
        process (which waits for its worker threads) would never exit. Once quitting has
        started, nothing is run."""
        if self._quitting:
            return
        self.post_message(_RunOnAppThread(partial(callback, *args, **kwargs)))

    @on(_RunOnAppThread)
    def _run_on_app_thread(self, message: _RunOnAppThread) -> None:
        if not self._quitting:
            message.callback()

    async def on_event(self, event: events.Event) -> None:
        # Input not yet handed to a widget is dropped here; what was already handed on (typed
        # in the same burst as the quit key) is stopped in run_action below.
        if self._quitting and isinstance(event, events.InputEvent | events.Paste):
            return
        await super().on_event(event)

    async def run_action(self, *args: Any, **kwargs: Any) -> bool:
        """Every key binding and action link runs through here: nothing runs once quitting."""
        if self._quitting:
            return True
        return await super().run_action(*args, **kwargs)

    # --- screenshots: the screen is full of mail, so the file is the user's alone ---------------

    def deliver_screenshot(
        self,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        """Save an SVG of the screen (the command palette's Screenshot, `action_screenshot`)
        into `path`, else the Downloads directory, else the home directory, else the data
        directory: a new file, mode 0600, never over another; a notice says where. Returns
        None (nothing is delivered to a browser)."""
        from tuimail.core.paths import user_files_dirs, write_private_file

        stamp = datetime.now().strftime(time_format or "%Y-%m-%dT%H_%M_%S")
        name = filename or f"tuimail_{stamp}.svg"
        directories = [Path(path).expanduser()] if path else user_files_dirs(self.data_dir)
        try:
            saved = write_private_file(directories, name, self.export_screenshot().encode())
        except OSError as exc:
            why = exc.strerror or str(exc)
            self.notify(
                f"The screenshot was not saved: {why}", title="Screenshot", severity="error",
                markup=False,
            )  # fmt: skip
            return None
        self.notify(f"Saved to {saved} (readable only by you).", title="Screenshot", markup=False)
        return None

    # --- the network: one gate, which `--offline` closes ----------------------------------------

    def network_closed(self, doing: str) -> str | None:
        """The one gate to the network: whatever the app is about to do that connects (a sync,
        the inbox watcher, sending, a body, drafts, the setup screen's check, lookup and
        authorization) asks here first, and every network worker starts through
        `_network_worker`. None: go ahead; else why not, in words ("Offline: nothing is
        `doing`..."). Any thread."""
        if self.offline:
            return f"Offline: nothing is {doing} until tuimail runs without --offline."
        if self.disk_full_start is not None:
            return f"The disk is full: nothing is {doing} until tuimail starts with room on it."
        return None

    def _network_worker(
        self, doing: str, job: Callable[[], None], *, group: str, exclusive: bool = False
    ) -> bool:
        """Run `job` (which connects) in a thread worker, if the gate is open; False if not."""
        if self.network_closed(doing) is not None:
            return False
        self.run_worker(
            job, thread=True, group=group, name=group, exclusive=exclusive, exit_on_error=False
        )
        return True

    # --- offline: nothing connects; intents wait in the store for the next online run --------

    def _show_offline(self) -> None:
        """Every account with a mail server says "offline" in the status bar (local accounts,
        like the demo's, have nothing to say)."""
        for account in self._mail_accounts():
            status = AccountStatus(account.name, AccountState.IDLE, "offline")
            self.main_screen.post_message(status)

    def _queued_offline(self) -> str:
        if self.demo:
            return "Queued in the outbox; the demo never sends it (o: outbox)."
        return "Queued in the outbox; it will be sent when tuimail runs online (o: outbox)."

    # --- workers ---------------------------------------------------------------------------

    def _mail_accounts(self) -> list[AccountConfig]:
        """Accounts with an incoming server, whose mail a worker brings into the store."""
        return [a for a in self.config.accounts.values() if a.incoming is not None]

    def _schedule_mail_workers(self) -> None:
        for account in self._mail_accounts():
            assert account.incoming is not None
            interval = DEFAULT_POLL_SECONDS
            if account.incoming.protocol is Protocol.POP3:
                interval = float(account.incoming.interval)  # 0: only on demand
            if interval > 0:
                self.set_interval(interval, partial(self.start_mail_worker, account.name))
            self.start_mail_worker(account.name)

    def action_get_mail(self) -> None:
        """Get mail for every account now (the periodic timers go on as before)."""
        accounts = self._mail_accounts()
        if not accounts:
            self.notify("No account with a mail server is configured.", markup=False)
        elif (closed := self.network_closed("fetched")) is not None:
            self.notify(closed, markup=False)
        for account in accounts:
            self.start_mail_worker(account.name)

    def _run_keyed(
        self,
        slots: _Slots,
        key: Hashable,
        job: Callable[[], None],
        *,
        group: str,
        remember: bool = False,
    ) -> None:
        """Run `job` in a thread worker unless one with `key` runs; with `remember`, a request
        while it runs makes it run once more when it ends. Offline, nothing runs (the gate,
        `network_closed`)."""
        if self.network_closed("fetched or sent") is not None:
            return
        if not slots.claim(key, remember=remember):
            return

        def run() -> None:
            try:
                job()
            finally:
                if slots.release(key) and not self._cancel.is_set():
                    self.call_from_worker(self._run_keyed, slots, key, job, group=group)

        if not self._network_worker("fetched or sent", run, group=group):
            slots.release(key)

    def _report_crash(self, account: AccountConfig, protocol: Protocol, exc: Exception) -> None:
        """The engines report their own failures; an exception reaching here is a bug."""
        log.exception("%s worker for %s crashed", protocol.value, account.name)
        self.emit(SyncFailed(account.name, protocol, "internal", f"internal error: {exc}"))

    def start_mail_worker(self, name: str, *, again_if_busy: bool = False) -> None:
        """Sync or fetch account `name` in a thread worker, unless one is running for it."""
        account = self.config.accounts[name]
        self._run_keyed(
            self._mail_passes,
            name,
            partial(self._mail_pass_in_thread, account),
            group=f"mail-{name}",
            remember=again_if_busy,
        )

    def _mail_pass_in_thread(self, account: AccountConfig) -> None:
        """Worker thread: one IMAP sync or POP3 download of `account`; failures become events."""
        assert account.incoming is not None
        protocol = account.incoming.protocol
        try:
            if protocol is Protocol.POP3:
                from tuimail.sync.pop3.fetch import Pop3Download

                Pop3Download(account, self.data_dir, emit=self.emit, cancel=self._cancel).run()
            else:
                from tuimail.cli.sync import sync_account

                self._drafts_pass(account)
                synced = sync_account(account, self.data_dir, self.emit, cancel=self._cancel)
                if synced and not self._cancel.is_set():
                    # Folders are known now: keep the inbox fresh from here on.
                    self.call_from_worker(self.start_idle_watcher, account.name)
        except Exception as exc:
            self._report_crash(account, protocol, exc)

    def emit(self, event: Event) -> None:
        """Any thread: turn an engine event into UI messages (post_message is thread-safe)."""
        for message in ui_messages_for(event):
            target = getattr(self, "main_screen", None)
            if isinstance(message, UserNotice | NewMailArrived) or target is None:
                self.post_message(message)
            elif isinstance(message, StoreUpdated):
                self.post_store_update(message)
            else:
                target.post_message(message)

    def post_store_update(self, update: StoreUpdated) -> None:
        """Any thread: tell the main screen that the store changed, merged into the update
        still waiting for it when there is one (never dropped: see StoreUpdated)."""
        with self._store_update_lock:
            pending = self._store_update
            if pending is not None and pending.merge(update.folder_ids, update.revision):
                return
            self._store_update = update
        self.main_screen.post_message(update)

    def start_idle_watcher(self, name: str) -> None:
        """Watch account `name`'s inbox with IDLE (or polling) in a long-lived worker."""
        account = self.config.accounts[name]
        job = partial(self._idle_in_thread, account)
        self._run_keyed(self._watchers, name, job, group=f"idle-{name}")

    def _idle_in_thread(self, account: AccountConfig) -> None:
        """Worker thread: wait for new mail until the app exits (or the password is refused)."""
        from tuimail.sync.imap.idle import ImapIdleWatcher

        try:
            ImapIdleWatcher(account, self.data_dir, emit=self.emit, cancel=self._cancel).run()
        except Exception as exc:
            self._report_crash(account, Protocol.IMAP, exc)

    # --- sending ------------------------------------------------------------------------------

    def sender_for(self, account_id: int | None) -> Sender | None:
        """Who to send as: the given store account if it has SMTP, else the first that does."""
        candidates = list(self.config.accounts.values())
        preferred = self._account_by_id(account_id) if account_id is not None else None
        if preferred is not None:
            candidates.insert(0, preferred)
        own = tuple(a.address for a in self.config.accounts.values())
        for account in candidates:
            if account.smtp is not None:
                address = Address(account.display_name, account.address)
                delay = timedelta(seconds=account.smtp.undo_send_seconds)
                return Sender(
                    account.name,
                    address,
                    can_send=True,
                    own_addresses=own,
                    send_delay=delay,
                    smtp_server=f"{account.smtp.host}:{account.smtp.port}",
                )
        return None

    @on(OutboxQueued)
    def _outbox_queued(self, message: OutboxQueued) -> None:
        if self.network_closed("sent") is not None:
            self.notify(self._queued_offline(), markup=False)
            return
        seconds = round(message.delay)
        when = f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"
        self.notify(f"Queued; it leaves in {when} (o: outbox, to take it back).", markup=False)
        self.set_timer(
            message.delay + 0.2, partial(self.start_sender_for_account_id, message.account_id)
        )

    def start_sender(self, name: str) -> None:
        """Send account `name`'s due outbox items in a thread worker (once more after a running
        one, which may have looked before the newest item was due)."""
        account = self.config.accounts.get(name)
        if account is None or account.smtp is None:
            return
        job = partial(self._send_in_thread, account)
        self._run_keyed(self._senders, name, job, group=f"send-{name}", remember=True)

    def _account_by_id(self, account_id: int) -> AccountConfig | None:
        """The configured account that a store account id belongs to."""
        names = {info.id: info.name for info in read.accounts(self.conn)}
        return self.config.accounts.get(names.get(account_id, ""))

    def start_sender_for_account_id(self, account_id: int) -> None:
        """Start a sending pass for the store account `account_id` (e.g. after a retry)."""
        if self.network_closed("sent") is not None:
            self.notify(self._queued_offline(), markup=False)
            return
        account = self._account_by_id(account_id)
        if account is not None:
            self.start_sender(account.name)

    def _send_in_thread(self, account: AccountConfig) -> None:
        """Worker thread: one pass of the outbox sender; failures arrive as events."""
        from tuimail.sync.smtp.flush import OutboxSender

        try:
            result = OutboxSender(account, self.data_dir, emit=self.emit, cancel=self._cancel).run()
        except Exception as exc:
            self._report_crash(account, Protocol.SMTP, exc)
            return
        for outcome in result.outcomes:
            if outcome.state is OutboxState.SENT and outcome.refused:  # named, with the replies
                self.post_message(UserNotice(refusal_notice(outcome.refused), title=account.name))
        for account_id in result.flagged_accounts:
            # A reply or forward went out: \Answered or $Forwarded waits to reach the server.
            self.post_message(IntentQueued(account_id))

    def _schedule_senders(self) -> None:
        """Send what is due at start (left from last time) and look again every minute, for
        backoffs and messages scheduled for later."""
        for account in self.config.accounts.values():
            if account.smtp is not None:
                self.start_sender(account.name)
                self.set_interval(SENDER_INTERVAL, partial(self.start_sender, account.name))

    # --- account setup ----------------------------------------------------------------------

    def action_add_account(self) -> None:
        self.push_screen(
            AccountSetupScreen(
                self.config.accounts,
                first_run=False,
                lookup=self.find_account_settings,
                authorize=self.authorize_account,
                keyring_problem=self._keyring_problem(),
            )
        )

    @staticmethod
    def _keyring_problem() -> str | None:
        """Why no system keyring can keep a password here (the setup screen then offers a
        password command first), or None."""
        from tuimail.auth.secrets import keyring_problem

        try:
            return keyring_problem()
        except Exception as exc:  # a broken keyring install: say it, the screen still works
            return f"the keyring could not be loaded ({type(exc).__name__}: {exc})"

    def find_account_settings(
        self, address: str, progress: Callable[[str], None], ca_file: Path | None
    ) -> Autoconfig:
        """The setup screen's lookup of an address's servers, run in the screen's worker thread.

        The app owns the network (the screen never connects); offline, nothing is looked up.
        """
        from tuimail.sync.discovery.autoconfig import (  # only when asked
            AutoconfigError,
            Network,
            lookup,
        )

        if (closed := self.network_closed("looked up")) is not None:
            raise AutoconfigError(f"{closed} Fill in the servers.")
        return lookup(address, Network(ca_file=ca_file), progress)

    # Opens an address in the user's browser (False: none could be opened); tests replace it.
    browser_opener: Callable[[str], bool] | None = None

    def authorize_account(self, account: AccountConfig, show: Callable[[str], None]) -> None:
        """The setup screen's OAuth2 authorization, run in the screen's worker thread.

        The browser flow opens the system browser and listens on loopback; `show` gets the
        authorization address (to copy, if no browser opened) or the device flow's code. The
        refresh token goes to the keyring. Offline, nothing is contacted. Raises OAuthError.
        """
        from tuimail.auth.oauth import FlowUi, OAuthError, authorize  # only when asked

        if (closed := self.network_closed("contacted")) is not None:
            raise OAuthError(
                f"{closed.rstrip('.')}; when online, run "
                f"`tuimail accounts authorize {account.name}`"
            )

        def open_browser(url: str) -> bool:
            show(f"The authorization address (open it in a browser if none opened):\n{url}")
            if self.browser_opener is not None:
                return self.browser_opener(url)
            import webbrowser

            try:
                browser = webbrowser.get()
                # A GenericBrowser is a terminal browser (or $BROWSER): it would take over this
                # screen, or block until it exits; the address is shown to copy instead.
                return not isinstance(browser, webbrowser.GenericBrowser) and browser.open(url)
            except webbrowser.Error:
                return False

        def ask(prompt: str) -> str:
            raise OAuthError("this flow reads an address from a terminal")

        authorize(account, FlowUi(open_browser, show, ask))
        if self.start_workers and account.incoming is not None:
            self.call_from_worker(self.start_mail_worker, account.name)

    @on(SetupCheck)
    def _setup_check(self, message: SetupCheck) -> None:
        register_secret(message.password)
        job = partial(self._check_in_thread, message.account, message.password)
        if not self._network_worker("checked", job, group="setup-check", exclusive=True):
            self._setup_report(str(self.network_closed("checked")), False)

    def _check_in_thread(self, account: AccountConfig, password: str) -> None:
        """Worker thread: connect and log in to each server of a new account."""
        from tuimail.sync.check import check_server

        lines = []
        # No typed password: the account's own source (its password command, or the keyring).
        typed = (lambda: password) if password else None
        for server in account.servers():
            problem = check_server(account, server, timeout=20, password=typed)
            lines.append(f"{server.protocol.value.upper()}: {problem or 'ok'}")
        ok = bool(lines) and all(line.endswith(": ok") for line in lines)
        text = "; ".join(lines) or "A local account has no servers to check."
        if password and lines and (problem := self._keyring_problem()) is not None:
            # It logged in now, but saved it never could: the password would have nowhere to go.
            ok = False
            text += (
                f". But there is no keyring here to keep the password ({problem}): before "
                "saving, choose password command under Sign in with."
            )
        self.call_from_worker(self._setup_report, text, ok)

    def _setup_report(self, text: str, ok: bool) -> None:
        if isinstance(self.screen, AccountSetupScreen):
            self.screen.show_report(text, ok=ok)

    @on(SetupSave)
    def _setup_save(self, message: SetupSave) -> None:
        from tuimail.auth.secrets import SecretError, delete_password, set_password

        location = config_location()
        name = message.account.name
        note = ""
        if message.password and message.account.servers():
            # The password first: an account whose password cannot be kept could never log in,
            # so it is not saved (the screen stays, saying why and what to choose instead).
            try:
                set_password(name, message.password)
            except SecretError as exc:
                self._setup_report(
                    f"Not saved: the password could not be kept ({exc}). Sign in with: choose "
                    "password command, and name a command that prints the password.",
                    False,
                )
                return
        elif self._cannot_log_in(message.account):
            note = (
                " No password was given: store it with "
                f"`tuimail accounts set-password {name}` before it can get mail."
            )
        try:
            self.config = add_account(location.path, message.toml)
        except ConfigError as exc:
            if message.password and message.account.servers():
                # No account, so no password for it (best effort: keyring backends raise many
                # kinds, and the config error is what the user needs to see).
                with contextlib.suppress(Exception):
                    delete_password(name)
            self._setup_report(str(exc), False)
            return
        self._ensure_store_accounts()
        self.post_store_update(StoreUpdated(()))  # the empty view names the account
        oauth2 = message.account.oauth2 is not None
        if isinstance(self.screen, AccountSetupScreen):
            if oauth2:  # the screen stays to authorize the account (or say how to, later)
                self.screen.offer_authorization(message.account)
            else:
                self.pop_screen()
        self.notify(
            f"Account {name!r} added to {location.path}.{note}",
            severity="warning" if note else "information",
            markup=False,
        )
        # An OAuth2 account gets mail once it is authorized (authorize_account starts it).
        if self.start_workers and message.account.incoming is not None and not oauth2:
            self.start_mail_worker(name)

    @staticmethod
    def _cannot_log_in(account: AccountConfig) -> bool:
        """A password account about to be saved without a password, a command or a keyring
        entry: it could not log in."""
        if not account.servers() or account.auth == "oauth2" or account.password_command:
            return False
        if any(server.password_command for server in account.servers()):
            return False
        from tuimail.auth.secrets import SecretError, get_password

        try:
            for server in account.servers():
                get_password(account, server.protocol)
        except SecretError:
            return True
        return False

    @on(IntentQueued)
    def _intent_queued(self, message: IntentQueued) -> None:
        """Replay the user's action to the server soon: a pass replays pending ops first (one
        more pass when a running one may have looked before the action was queued)."""
        account = self._account_by_id(message.account_id)
        if account is None or account.incoming is None:
            return
        if account.incoming.protocol is not Protocol.IMAP:
            return  # POP3 and local accounts keep their flags locally
        self.start_mail_worker(account.name, again_if_busy=True)

    # --- drafts: copies in the IMAP Drafts folder -------------------------------------------

    @on(DraftSaved)
    def _draft_saved(self, message: DraftSaved) -> None:
        """A draft was kept, discarded or sent: bring the server's Drafts folder up to date."""
        account = self._account_by_id(message.account_id)
        if account is None or account.incoming is None:
            return
        if (closed := self.network_closed("copied to the server")) is not None:
            if not self._said_drafts_offline:  # once: the composer saves every few seconds
                self._said_drafts_offline = True
                if self.offline:
                    closed = (
                        "Offline: drafts stay on this computer; they are copied to the server's "
                        "Drafts folder when tuimail runs online."
                    )
                self.notify(closed, markup=False)
            return
        if account.incoming.protocol is Protocol.IMAP:
            job = partial(self._drafts_pass, account)
            self._run_keyed(self._drafts, account.name, job, group=f"drafts-{account.name}",
                            remember=True)  # fmt: skip

    def _drafts_pass(self, account: AccountConfig) -> None:
        """Worker thread: copy the account's drafts to the server, remove discarded ones (it
        connects only when there is something to do); failures arrive as events."""
        from tuimail.sync.imap.drafts import sync_drafts

        try:
            sync_drafts(account, self.data_dir, self.emit, cancel=self._cancel)
        except Exception as exc:
            self._report_crash(account, Protocol.IMAP, exc)

    @on(BodyWanted)
    def _body_wanted(self, message: BodyWanted) -> None:
        row = read.row(self.conn, message.message_id)
        account = self._account_by_id(row.account_id) if row is not None else None
        if account is None or account.incoming is None:
            return
        if account.incoming.protocol is not Protocol.IMAP:
            return  # POP3 and local messages are always stored whole
        job = partial(self._fetch_body_in_thread, account, message.message_id, message.full)
        key = (message.message_id, message.full)  # the text and the whole message apart
        self._run_keyed(self._bodies, key, job, group=f"body-{account.name}")

    def _fetch_body_in_thread(self, account: AccountConfig, message_id: int, full: bool) -> None:
        """Worker thread: fetch one message's body (its text, or with `full` all of it) from
        the IMAP server into the store."""
        from tuimail.sync.imap.body import fetch_body

        reasons: list[str] = []

        def emit(event: Event) -> None:
            if isinstance(event, SyncFailed | AuthNeeded):
                reasons.append(sanitize_line(event.message).strip())
            self.emit(event)

        gone: list[str] = []
        try:
            fetched = fetch_body(
                account, self.data_dir, message_id, emit, cancel=self._cancel, full=full,
                on_gone=gone.append,
            )  # fmt: skip
        except Exception as exc:
            self._report_crash(account, Protocol.IMAP, exc)
            fetched, reasons = False, [f"internal error: {exc}"]
        if not fetched and not self._cancel.is_set():
            # The message view says so in words instead of "Downloading…" for ever.
            reason = (gone or reasons or ["the server did not send it"])[-1]
            self.main_screen.post_message(BodyFailed(message_id, reason, gone=bool(gone)))

    @on(OpenWanted)
    def _open_wanted(self, message: OpenWanted) -> None:
        """Open a saved attachment with the system's opener in a worker (local work: it runs
        offline too); the app waits for nothing and suspends nothing."""
        command = opener_command(self.config.ui.opener)
        job = partial(self._open_in_thread, command, message.path)
        self.run_worker(job, thread=True, group="opener", name="opener", exit_on_error=False)

    def _open_in_thread(self, command: list[str], path: Path) -> None:
        """Worker thread: run the opener; a failure becomes a notice."""
        problem = run_opener(command, path)
        if problem is not None:
            self.post_message(UserNotice(sanitize_line(problem), title="Open", error=True))

    # --- new mail: the app's notification and the desktop's (tuimail/app/notify.py) -------------

    @on(NewMailArrived)
    def _new_mail(self, message: NewMailArrived) -> None:
        """Work out in a thread (store reads) whether and what to announce."""
        account = self.config.accounts.get(message.account)
        patterns = account.notify_folders if account is not None else ("INBOX",)
        job = partial(
            self._news_in_thread, message.account, message.folder_id, message.count, patterns
        )
        self.run_worker(job, thread=True, group="news", name="news", exit_on_error=False)

    def _news_in_thread(
        self, account: str, folder_id: int, count: int, patterns: tuple[str, ...]
    ) -> None:
        try:
            news = news_for(self.data_dir, account, folder_id, count, patterns)
        except (StoreError, sqlite3.Error) as exc:
            log.warning("no new-mail notification for %s: %s", account, exc)
            return
        if news is not None:
            self.call_from_worker(self._offer_news, news)

    def _offer_news(self, news: News) -> None:
        announce, wait = self._news_gate.offer(news)
        if wait is not None:
            self.set_timer(wait, partial(self._release_news, news.key))
        if announce is not None:
            self._announce(announce)

    def _release_news(self, key: tuple[str, str]) -> None:
        news = self._news_gate.release(key)
        if news is not None:
            self._announce(news)

    def _announce(self, news: News) -> None:
        """The app's notification, then the desktop's (texts sanitized by tuimail.app.notify)."""
        body = news.body()
        self.notify(body or news.summary(), title=news.summary() if body else "", markup=False)
        if self._desktop.program:
            argv = notify_send_argv(self._desktop.program, news)
            job = partial(self._notify_send_in_thread, argv)
            self.run_worker(job, thread=True, group="news", name="notify-send", exit_on_error=False)
        elif self._desktop.terminal and self._driver is not None:
            self._driver.write(terminal_sequence(self._desktop.terminal, news))

    def _notify_send_in_thread(self, argv: list[str]) -> None:
        problem = run_notify_send(argv)
        if problem is not None and not self._desktop_failed:
            self._desktop_failed = True  # said once; the app's own notifications go on
            log.warning("%s", problem)
            self.post_message(UserNotice(problem, title="Desktop notifications", error=True))

    @on(UserNotice)
    def _user_notice(self, notice: UserNotice) -> None:
        self.notify(
            notice.text,
            title=notice.title,
            severity="error" if notice.error else "information",
            markup=False,
        )


if TYPE_CHECKING:
    # The screens reach the app as an AppHost (tuimail.ui.host); this checks it is one.
    _AS_HOST: type[AppHost] = TuimailApp


def refusal_notice(refused: Mapping[str, str]) -> str:
    """The words for recipients a server refused while the message went to the others."""
    lines = ["Sent, but not to:"]
    for recipient, reply in refused.items():
        again = " (tried again later)" if reply.startswith("4") else ""
        lines.append(f"{sanitize_line(recipient)}: {sanitize_line(reply)}{again}")
    return "\n".join(lines)


def ui_messages_for(event: Event) -> list[Message]:
    """The UI messages that show an engine event (text sanitized here, once)."""
    match event:
        case StoreChanged():
            return [StoreUpdated(event.folder_ids, event.revision)]
        case SyncStarted():
            doing = "sending" if event.protocol is Protocol.SMTP else "getting mail"
            return [AccountStatus(event.account, AccountState.BUSY, f"{doing}…")]
        case SyncProgress():
            doing = "sending" if event.protocol is Protocol.SMTP else "getting mail"
            where = f"{sanitize_line(event.folder)} " if event.folder else ""
            text = f"{doing}: {where}{event.done}/{event.total}"
            return [AccountStatus(event.account, AccountState.BUSY, text)]
        case SyncFinished() if event.quiet:
            return []
        case SyncFinished():
            stamp = datetime.now().strftime("%H:%M")
            text = f"{sanitize_line(event.summary)} ({stamp})"
            return [AccountStatus(event.account, AccountState.IDLE, text)]
        case SyncFailed() if event.kind == "busy":
            # Another pass over the account (a cron sync, the inbox watcher) has the lock.
            text = "another sync of this account is running; it brings the news"
            return [AccountStatus(event.account, AccountState.BUSY, text)]
        case SyncFailed() | AuthNeeded():
            text = sanitize_line(event.message).strip()
            return [
                AccountStatus(event.account, AccountState.ERROR, text),
                UserNotice(
                    text, title=f"{event.account}: {event.protocol.value.upper()}", error=True
                ),
            ]
        case MarkedDeleted():
            return [DeletedLeft(event.account, event.folder_id, event.count)]
        case ActionsGivenUp():
            # given_up_text sanitizes the folder names and the server's words.
            return [
                UserNotice(
                    "\n".join(given_up_text(action) for action in event.actions),
                    title=f"{event.account}: not carried out",
                    error=True,
                )
            ]
        case NewMail() if not event.first:
            # The app decides whether the folder announces (accounts.NAME.notify_folders).
            return [NewMailArrived(event.account, event.folder_id, event.count)]
    return []


def run_app(
    config: Config,
    data_dir: Path,
    *,
    title: str | None = None,
    workers: bool = True,
    demo: bool = False,
    compose: MailtoFields | None = None,
) -> int:
    """Run the app until the user quits; returns the exit status. Without `workers` nothing
    connects anywhere (`--offline`, the demo); with them and no account, the setup screen opens
    first. `demo`: the accounts are made up, so queued mail is said never to leave. `compose`:
    the fields of a mailto: link, for the composer to open with."""
    try:
        app = TuimailApp(
            config,
            data_dir,
            title=title,
            offer_setup=workers,
            offline=not workers,
            demo=demo,
            compose=compose,
        )
        with terminal_log_held():  # nothing is written across the app's screen
            app.run()
    except StoreError as exc:
        print(f"tuimail: error: {exc}", file=sys.stderr)
        log.error("%s", exc, extra={SHOWN: True})
        return 1
    if app.store_failure is not None:
        print(f"tuimail: error: {app.store_failure}", file=sys.stderr)
        log.error("%s", app.store_failure, extra={SHOWN: True})  # into the log file only
        return 1
    return app.return_code or 0
