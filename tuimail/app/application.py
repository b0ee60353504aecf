"""TuimailApp: the one place where the UI meets the rest (the store connection, the screens,
themes, key bindings, starting and quitting), and `run_app`.

Engines run in the thread workers of `EngineRunner` (tuimail/app/workers.py), which is also the
one gate to the network; their events reach the screen through `EventBridge`
(tuimail/app/bridge.py), which turns them into the UI's own messages (ui/messages.py) and
notices; the main screen re-queries the store. Widgets never see an engine, a socket or a
password. Account setup's lookups, checks and authorization are tuimail/app/account_setup.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.message import Message

from tuimail.app import interpreter, launch
from tuimail.app.account_setup import (
    authorize_oauth2,
    cannot_log_in,
    check_servers,
    find_settings,
    keyring_problem,
)
from tuimail.app.bridge import EventBridge, NewMailArrived
from tuimail.app.launch import browse_in_thread, open_in_thread
from tuimail.app.pipe import run_pipe
from tuimail.app.workers import EngineRunner
from tuimail.config.schema import AccountConfig, Config, ConfigError
from tuimail.config.write import add_account
from tuimail.core.log import SHOWN, register_secret, terminal_log_held
from tuimail.core.model import Address, Protocol
from tuimail.core.paths import config_location
from tuimail.mail.mailto import MailtoFields
from tuimail.store import read, write
from tuimail.store.db import (
    StoreError,
    StoreFullError,
    failure,
    open_store,
    open_store_exclusively,
    store_path,
)
from tuimail.sync.unsubscribe import one_click
from tuimail.ui.browse import browser_commands
from tuimail.ui.commands import TuimailCommands
from tuimail.ui.host import Sender
from tuimail.ui.messages import (
    AccountState,
    AccountStatus,
    BodyWanted,
    DraftSaved,
    IntentQueued,
    OpenWanted,
    OutboxQueued,
    PipeWanted,
    PrefetchWanted,
    ServerBack,
    SetupCheck,
    SetupSave,
    StoreUpdated,
    UserNotice,
)
from tuimail.ui.save import opener_command
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.setup import AccountSetupScreen
from tuimail.ui.themes import APP_VARIABLE_DEFAULTS, DEFAULT_THEME, load_themes

if TYPE_CHECKING:
    from tuimail.config.discovered import Autoconfig
    from tuimail.ui.host import AppHost

log = logging.getLogger(__name__)


class _RunOnAppThread(Message):
    """A callback a worker thread wants run on the app's thread (`call_from_worker`)."""

    def __init__(self, callback: Callable[[], object]) -> None:
        super().__init__()
        self.callback = callback


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
        if title:
            self.title = title
        self._theme_problems: list[str] = []
        self._register_themes()
        if config.keys:
            self.set_keymap(dict(config.keys))  # [keys] in the config replaces default keys
        # Engine events become UI messages and notices through the bridge; every engine call
        # runs in the runner's workers, behind its network gate.
        self.bridge = EventBridge(self, data_dir, config.notify, self.call_from_worker)
        self.engines = EngineRunner(
            self, data_dir, self.bridge, self.call_from_worker, offline=offline
        )
        # Set once quitting starts: keys typed after the quit key (in the same burst, already
        # queued behind it) must not act on a message the user is leaving.
        self._quitting = False
        self._said_drafts_offline = False
        self._pipes: set[threading.Event] = set()  # the cancels of piped commands running
        # Started on a full disk: the store is open exclusively (open_store_exclusively) and
        # nothing that connects runs; the words say why.
        self.disk_full_start: str | None = None
        self._start_frozen = False  # the start's objects are out of the full collections
        self._switch_interval = sys.getswitchinterval()  # Python's, given back at the end
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
            self.engines.disk_full = True
        self.main_screen = MainScreen(self.conn, self.clock)
        self.bridge.screen = self.main_screen
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
            self.engines.schedule(self.config.accounts.values())
        elif self.offline:
            self.engines.index_behind(watch=False)  # not network work: the index is completed
        if not self.config.accounts and self.offer_setup:
            self.push_screen(
                AccountSetupScreen(
                    first_run=True,
                    lookup=self.find_account_settings,
                    authorize=self.authorize_account,
                    keyring_problem=keyring_problem(),
                )
            )
        elif self.compose_on_start is not None:
            self.main_screen.compose_prefilled(self.compose_on_start)
        self.call_after_refresh(self._freeze_start)

    def _freeze_start(self) -> None:
        """What the start made leaves the garbage collector's full passes, and threads take
        turns more often, while the app runs (`app/interpreter.py`); given back at the end."""
        self._switch_interval = interpreter.tune_for_frames()
        self._start_frozen = True

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
        if self._start_frozen:
            interpreter.untune(self._switch_interval)
        self.engines.cancel.set()
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()

    # --- quitting: from the quit key on, no key or click reaches an action -------------------

    def exit(self, *args: Any, **kwargs: Any) -> None:
        """Start quitting; what the user types from now on is dropped, and the engines stop at
        their next check."""
        from tuimail.sync.deadline import abort_all

        self._quitting = True
        self.engines.cancel.set()
        for cancel in list(self._pipes):  # a piped command still running is stopped
            cancel.set()
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
        saved, problem = launch.save_screenshot(
            self.export_screenshot(), self.data_dir, filename, path, time_format
        )
        if problem is not None:
            self.notify(problem, title="Screenshot", severity="error", markup=False)
        else:
            self.notify(
                f"Saved to {saved} (readable only by you).", title="Screenshot", markup=False
            )
        return None

    # --- the network: the runner's gate, which `--offline` closes ------------------------------

    def network_closed(self, doing: str) -> str | None:
        """The one gate to the network (`EngineRunner.closed`): None to go ahead, else why not,
        in words. Any thread."""
        return self.engines.closed(doing)

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

    # --- getting mail: the engines run in the runner's workers (tuimail/app/workers.py) -------

    def _mail_accounts(self) -> list[AccountConfig]:
        """Accounts with an incoming server, whose mail a worker brings into the store."""
        return [a for a in self.config.accounts.values() if a.incoming is not None]

    def action_get_mail(self) -> None:
        """Get mail for every account now (the periodic timers go on as before)."""
        accounts = self._mail_accounts()
        if not accounts:
            self.notify("No account with a mail server is configured.", markup=False)
        elif (closed := self.network_closed("fetched")) is not None:
            self.notify(closed, markup=False)
        for account in accounts:
            self.engines.mail_pass(account)

    def start_mail_worker(self, name: str) -> None:
        """Sync or fetch account `name` in a thread worker, unless one is running for it."""
        self.engines.mail_pass(self.config.accounts[name])

    def _account_by_id(self, account_id: int) -> AccountConfig | None:
        """The configured account that a store account id belongs to."""
        names = {info.id: info.name for info in read.accounts(self.conn)}
        return self.config.accounts.get(names.get(account_id, ""))

    @on(IntentQueued)
    def _intent_queued(self, message: IntentQueued) -> None:
        """Replay the user's action to the server soon: a pass replays pending ops first (one
        more pass when a running one may have looked before the action was queued)."""
        account = self._account_by_id(message.account_id)
        if account is None or account.incoming is None:
            return
        if account.incoming.protocol is not Protocol.IMAP:
            return  # POP3 and local accounts keep their flags locally
        self.engines.replay(account)

    @on(PrefetchWanted)
    def _prefetch_wanted(self, message: PrefetchWanted) -> None:
        """Bring the bodies around the cursor from each IMAP account's live session."""
        wanted: dict[str, list[int]] = {}
        for message_id in message.message_ids:
            row = read.row(self.conn, message_id)
            account = self._account_by_id(row.account_id) if row is not None else None
            if account is None or account.incoming is None:
                continue
            if account.incoming.protocol is Protocol.IMAP:
                wanted.setdefault(account.name, []).append(message_id)
        for name, ids in wanted.items():
            self.engines.prefetch(self.config.accounts[name], ids)

    @on(ServerBack)
    def _server_back(self, message: ServerBack) -> None:
        """The server answers again after an outage: what waited in the outbox only because
        the network or the server was away goes now, not when its backoff ends."""
        account = self.config.accounts.get(message.account)
        if account is not None and account.smtp is not None:
            self.engines.send(account, expedite=True)

    @on(BodyWanted)
    def _body_wanted(self, message: BodyWanted) -> None:
        row = read.row(self.conn, message.message_id)
        account = self._account_by_id(row.account_id) if row is not None else None
        if account is None or account.incoming is None:
            return
        if account.incoming.protocol is not Protocol.IMAP:
            return  # POP3 and local messages are always stored whole
        self.engines.fetch_body(account, message.message_id, full=message.full)

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
            self.engines.copy_drafts(account)

    # --- sending ------------------------------------------------------------------------------

    def sender_for(self, account_id: int | None) -> Sender | None:
        """Who to send as: the given store account if it has SMTP, else the first that does."""
        candidates = list(self.config.accounts.values())
        preferred = self._account_by_id(account_id) if account_id is not None else None
        if preferred is not None:
            candidates.insert(0, preferred)
        own = tuple(i.address for a in self.config.accounts.values() for i in a.all_identities())
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
                    identities=account.all_identities(),
                )
        return None

    def one_click_unsubscribe(
        self, uri: str, account_id: int, done: Callable[[bool, str], None]
    ) -> str | None:
        """POST a one-click unsubscribe (RFC 8058) to `uri` in a worker, trusting the account's
        `ca_file` besides the system's CAs; `done(ok, words)` runs on the app's thread. None
        when it started, else why not, in words."""
        if (closed := self.network_closed("sent")) is not None:
            return closed
        account = self._account_by_id(account_id)
        ca_file = account.ca_file if account is not None else None

        def job() -> None:
            result = one_click(uri, ca_file=ca_file)
            self.call_from_worker(done, result.ok, result.words)

        self.engines.run_network("sent", job, group="unsubscribe")
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

    def start_sender_for_account_id(self, account_id: int) -> None:
        """Start a sending pass for the store account `account_id` (e.g. after a retry)."""
        if self.network_closed("sent") is not None:
            self.notify(self._queued_offline(), markup=False)
            return
        account = self._account_by_id(account_id)
        if account is not None and account.smtp is not None:
            self.engines.send(account)

    # --- account setup (the work itself: tuimail/app/account_setup.py) ----------------------

    def action_add_account(self) -> None:
        self.push_screen(
            AccountSetupScreen(
                self.config.accounts,
                first_run=False,
                lookup=self.find_account_settings,
                authorize=self.authorize_account,
                keyring_problem=keyring_problem(),
            )
        )

    def find_account_settings(
        self, address: str, progress: Callable[[str], None], ca_file: Path | None
    ) -> Autoconfig:
        """The setup screen's lookup of an address's servers, run in the screen's worker thread.

        The app owns the network (the screen never connects); offline, nothing is looked up.
        """
        return find_settings(address, progress, ca_file, self.network_closed("looked up"))

    # Opens an address in the user's browser (False: none could be opened); tests replace it.
    browser_opener: Callable[[str], bool] | None = None

    def authorize_account(self, account: AccountConfig, show: Callable[[str], None]) -> None:
        """The setup screen's OAuth2 authorization, run in the screen's worker thread
        (`tuimail.app.account_setup.authorize_oauth2`); then the account gets mail. Offline,
        nothing is contacted. Raises OAuthError."""
        closed = self.network_closed("contacted")
        authorize_oauth2(account, show, closed, self.browser_opener)
        if self.start_workers and account.incoming is not None:
            self.call_from_worker(self.start_mail_worker, account.name)

    @on(SetupCheck)
    def _setup_check(self, message: SetupCheck) -> None:
        register_secret(message.password)
        job = partial(self._check_in_thread, message.account, message.password)
        if not self.engines.run_network("checked", job, group="setup-check", exclusive=True):
            self._setup_report(str(self.network_closed("checked")), False)

    def _check_in_thread(self, account: AccountConfig, password: str) -> None:
        """Worker thread: connect and log in to each server of a new account."""
        text, ok = check_servers(account, password)
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
        elif cannot_log_in(message.account):
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
        self.bridge.post_store_update(StoreUpdated(()))  # the empty view names the account
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

    # --- opening an attachment: local work, so it runs offline too ----------------------------

    @on(OpenWanted)
    def _open_wanted(self, message: OpenWanted) -> None:
        """Open a saved attachment with the system's opener in a worker; the app waits for
        nothing and suspends nothing."""
        if message.browser:
            commands = browser_commands(self.config.ui.browser, os.environ)
            job = partial(browse_in_thread, self.post_message, commands, message.path)
        else:
            command = opener_command(self.config.ui.opener)
            job = partial(open_in_thread, self.post_message, command, message.path)
        self.run_worker(job, thread=True, group="opener", name="opener", exit_on_error=False)

    # --- piping a message to a command (|): local work, in a worker -------------------------

    @on(PipeWanted)
    def _pipe_wanted(self, message: PipeWanted) -> None:
        """Run the command in a worker thread; its outcome goes back to the output screen.
        Quitting stops it (`exit`)."""
        job, done = message.job, message.done
        self._pipes.add(job.cancel)

        def run() -> None:
            outcome = run_pipe(job)
            self._pipes.discard(job.cancel)
            self.call_from_worker(done, outcome)

        self.run_worker(run, thread=True, group="pipe", name="pipe", exit_on_error=False)

    # --- from the bridge (tuimail/app/bridge.py): new mail and notices ------------------------

    @on(NewMailArrived)
    def _new_mail(self, message: NewMailArrived) -> None:
        account = self.config.accounts.get(message.account)
        patterns = account.notify_folders if account is not None else ("INBOX",)
        self.bridge.new_mail(message, patterns)

    @on(UserNotice)
    def _user_notice(self, notice: UserNotice) -> None:
        self.bridge.show_notice(notice)


if TYPE_CHECKING:
    # The screens reach the app as an AppHost (tuimail.ui.host); this checks it is one.
    _AS_HOST: type[AppHost] = TuimailApp


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
