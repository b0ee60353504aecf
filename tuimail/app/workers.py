"""The engine runner: every engine call the app makes runs here, in a thread worker, behind the
one network gate.

An engine (a sync, a POP3 download, the inbox watcher, a sending pass, the drafts copy, a
message's body, the setup screen's server check) never runs on the app's thread: it blocks on
the network. `EngineRunner` starts it in a Textual thread worker, at most one of each kind per
key at a time (per account; per message for bodies), the engines' events going to the
bridge (tuimail.app.bridge). Before anything connects, `closed` says whether it may: offline
(`--offline`, the demo) or started on a full disk, nothing does. The cancel event, set when the
app quits, stops every engine at its next check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App

from tuimail.app.bridge import EventBridge
from tuimail.config.schema import AccountConfig
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.sync.events import AuthNeeded, Event, SyncFailed

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 300.0
SENDER_INTERVAL = 60.0
_EXPEDITE = "expedite"  # a sending pass's option (Slots.ask): the server answers again


class Slots:
    """Which keyed jobs (an account's sync, a message's body) run now, and which were asked for
    again while running; and the options asked for with a job, kept until a run of it takes
    them (a request that finds the job running is not lost). Thread-safe: jobs end in worker
    threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running: set[Hashable] = set()
        self._again: set[Hashable] = set()
        self._options: set[tuple[Hashable, str]] = set()

    def ask(self, key: Hashable, option: str) -> None:
        """The next run of `key`'s job (or the one starting now) should do `option`."""
        with self._lock:
            self._options.add((key, option))

    def take(self, key: Hashable, option: str) -> bool:
        """Whether `option` was asked for `key` since a run last took it; a run calls this as
        it starts."""
        with self._lock:
            asked = (key, option) in self._options
            self._options.discard((key, option))
            return asked

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


class EngineRunner:
    """The app's engine work in thread workers, and the one gate to the network."""

    def __init__(
        self,
        app: App[Any],
        data_dir: Path,
        bridge: EventBridge,
        call_from_worker: Callable[..., None],
        *,
        offline: bool,
    ) -> None:
        self._app = app
        self._data_dir = data_dir
        self._bridge = bridge
        self._call_from_worker = call_from_worker
        self.offline = offline  # `--offline`, the demo: nothing ever connects
        # Started on a full disk (the store open exclusively): nothing that connects runs.
        self.disk_full = False
        # Set on exit: engines check it between batches and stop cleanly.
        self.cancel = threading.Event()
        # One job of each kind per key at a time (per account; per message for bodies).
        self.mail_passes = Slots()
        self.watchers = Slots()
        self.senders = Slots()
        self.bodies = Slots()
        self.drafts = Slots()

    # --- the gate: every worker that connects starts behind it --------------------------------

    def closed(self, doing: str) -> str | None:
        """The one gate to the network: whatever the app is about to do that connects (a sync,
        the inbox watcher, sending, a body, drafts, the setup screen's check, lookup and
        authorization) asks here first, and every network worker starts through
        `run_network`. None: go ahead; else why not, in words ("Offline: nothing is
        `doing`..."). Any thread."""
        if self.offline:
            return f"Offline: nothing is {doing} until tuimail runs without --offline."
        if self.disk_full:
            return f"The disk is full: nothing is {doing} until tuimail starts with room on it."
        return None

    def run_network(
        self, doing: str, job: Callable[[], None], *, group: str, exclusive: bool = False
    ) -> bool:
        """Run `job` (which connects) in a thread worker, if the gate is open; False if not."""
        if self.closed(doing) is not None:
            return False
        self._app.run_worker(
            job, thread=True, group=group, name=group, exclusive=exclusive, exit_on_error=False
        )
        return True

    def run_keyed(
        self,
        slots: Slots,
        key: Hashable,
        job: Callable[[], None],
        *,
        group: str,
        remember: bool = False,
    ) -> None:
        """Run `job` in a thread worker unless one with `key` runs; with `remember`, a request
        while it runs makes it run once more when it ends. Offline, nothing runs (the gate,
        `closed`)."""
        if self.closed("fetched or sent") is not None:
            return
        if not slots.claim(key, remember=remember):
            return

        def run() -> None:
            try:
                job()
            finally:
                if slots.release(key) and not self.cancel.is_set():
                    self._call_from_worker(self.run_keyed, slots, key, job, group=group)

        if not self.run_network("fetched or sent", run, group=group):
            slots.release(key)

    def _report_crash(self, account: AccountConfig, protocol: Protocol, exc: Exception) -> None:
        """The engines report their own failures; an exception reaching here is a bug."""
        log.exception("%s worker for %s crashed", protocol.value, account.name)
        self._bridge.emit(
            SyncFailed(account.name, protocol, FailureKind.INTERNAL, f"internal error: {exc}")
        )

    # --- schedules --------------------------------------------------------------------------

    def schedule(self, accounts: Iterable[AccountConfig]) -> None:
        """Get mail now and every few minutes (a POP3 account at its own interval, 0: only on
        demand); send what is due at start (left from last time) and look again every minute,
        for backoffs and messages scheduled for later."""
        accounts = list(accounts)
        for account in accounts:
            if account.incoming is None:
                continue
            interval = DEFAULT_POLL_SECONDS
            if account.incoming.protocol is Protocol.POP3:
                interval = float(account.incoming.interval)  # 0: only on demand
            if interval > 0:
                self._app.set_interval(interval, partial(self.mail_pass, account))
            self.mail_pass(account)
        for account in accounts:
            if account.smtp is not None:
                self.send(account)
                self._app.set_interval(SENDER_INTERVAL, partial(self.send, account))

    # --- getting mail -------------------------------------------------------------------------

    def mail_pass(self, account: AccountConfig, *, again_if_busy: bool = False) -> None:
        """Sync or fetch `account` in a thread worker, unless one is running for it."""
        self.run_keyed(
            self.mail_passes,
            account.name,
            partial(self._mail_pass_in_thread, account),
            group=f"mail-{account.name}",
            remember=again_if_busy,
        )

    def _mail_pass_in_thread(self, account: AccountConfig) -> None:
        """Worker thread: one IMAP sync or POP3 download of `account`; failures become events."""
        assert account.incoming is not None
        protocol = account.incoming.protocol
        try:
            if protocol is Protocol.POP3:
                from tuimail.sync.pop3.fetch import Pop3Download

                Pop3Download(
                    account, self._data_dir, emit=self._bridge.emit, cancel=self.cancel
                ).run()
            else:
                from tuimail.sync.imap.account import sync_account

                self._drafts_in_thread(account)
                # The account's `bodies` setting decides here as it does for `tuimail sync`.
                synced = sync_account(
                    account,
                    self._data_dir,
                    self._bridge.emit,
                    bodies=account.incoming.bodies,
                    cancel=self.cancel,
                )
                if synced and not self.cancel.is_set():
                    # Folders are known now: keep the inbox fresh from here on.
                    self._call_from_worker(self.idle_watcher, account)
        except Exception as exc:
            self._report_crash(account, protocol, exc)

    def idle_watcher(self, account: AccountConfig) -> None:
        """Watch `account`'s inbox with IDLE (or polling) in a long-lived worker."""
        job = partial(self._idle_in_thread, account)
        self.run_keyed(self.watchers, account.name, job, group=f"idle-{account.name}")

    def _idle_in_thread(self, account: AccountConfig) -> None:
        """Worker thread: wait for new mail until the app exits (or the password is refused)."""
        from tuimail.sync.imap.idle import ImapIdleWatcher

        try:
            ImapIdleWatcher(
                account, self._data_dir, emit=self._bridge.emit, cancel=self.cancel
            ).run()
        except Exception as exc:
            self._report_crash(account, Protocol.IMAP, exc)

    # --- sending ------------------------------------------------------------------------------

    def send(self, account: AccountConfig, *, expedite: bool = False) -> None:
        """Send `account`'s due outbox items in a thread worker (once more after a running one,
        which may have looked before the newest item was due). `expedite`: the server answers
        again, so items that wait only because it could not be reached go now, not when their
        backoff ends; asked while a pass runs, the pass after it does it."""
        if expedite:
            self.senders.ask(account.name, _EXPEDITE)
        job = partial(self._send_in_thread, account)
        self.run_keyed(self.senders, account.name, job, group=f"send-{account.name}",
                       remember=True)  # fmt: skip

    def _send_in_thread(self, account: AccountConfig) -> None:
        """Worker thread: one pass of the outbox sender; failures arrive as events."""
        from tuimail.sync.smtp.flush import OutboxSender

        expedite = self.senders.take(account.name, _EXPEDITE)
        try:
            sender = OutboxSender(
                account,
                self._data_dir,
                emit=self._bridge.emit,
                cancel=self.cancel,
                expedite=expedite,
            )
            result = sender.run()
        except Exception as exc:
            self._report_crash(account, Protocol.SMTP, exc)
            return
        self._bridge.sent(account.name, result)

    # --- drafts: copies in the IMAP Drafts folder ---------------------------------------------

    def copy_drafts(self, account: AccountConfig) -> None:
        """Bring `account`'s Drafts folder on the server up to date in a thread worker."""
        job = partial(self._drafts_in_thread, account)
        self.run_keyed(self.drafts, account.name, job, group=f"drafts-{account.name}",
                       remember=True)  # fmt: skip

    def _drafts_in_thread(self, account: AccountConfig) -> None:
        """Worker thread: copy the account's drafts to the server, remove discarded ones (it
        connects only when there is something to do); failures arrive as events."""
        from tuimail.sync.imap.drafts import sync_drafts

        try:
            sync_drafts(account, self._data_dir, self._bridge.emit, cancel=self.cancel)
        except Exception as exc:
            self._report_crash(account, Protocol.IMAP, exc)

    # --- bodies: a message's text (or all of it) on demand ------------------------------------

    def fetch_body(self, account: AccountConfig, message_id: int, *, full: bool) -> None:
        """Fetch one message's body (its text, or with `full` all of it) in a thread worker."""
        job = partial(self._fetch_body_in_thread, account, message_id, full)
        key = (message_id, full)  # the text and the whole message apart
        self.run_keyed(self.bodies, key, job, group=f"body-{account.name}")

    def _fetch_body_in_thread(self, account: AccountConfig, message_id: int, full: bool) -> None:
        """Worker thread: fetch one message's body (its text, or with `full` all of it) from
        the IMAP server into the store."""
        from tuimail.sync.imap.body_on_demand import fetch_body

        reasons: list[str] = []

        def emit(event: Event) -> None:
            if isinstance(event, SyncFailed | AuthNeeded):
                reasons.append(sanitize_line(event.message).strip())
            self._bridge.emit(event)

        gone: list[str] = []
        try:
            fetched = fetch_body(
                account, self._data_dir, message_id, emit, cancel=self.cancel, full=full,
                on_gone=gone.append,
            )  # fmt: skip
        except Exception as exc:
            self._report_crash(account, Protocol.IMAP, exc)
            fetched, reasons = False, [f"internal error: {exc}"]
        if not fetched and not self.cancel.is_set():
            # The message view says so in words instead of "Downloading…" for ever.
            reason = (gone or reasons or ["the server did not send it"])[-1]
            self._bridge.body_failed(message_id, reason, gone=bool(gone))
