"""The engine runner: every engine call the app makes runs here, in a thread worker, behind the
one network gate.

An engine (an IMAP account's live session, a POP3 download, a sending pass, the setup screen's
server check) never runs on the app's thread: it blocks on the network. `EngineRunner` starts
it in a Textual thread worker, at most one of each kind per key at a time (per account), the
engines' events going to the bridge (tuimail.app.bridge). An IMAP account has one live session
(tuimail.sync.imap.live): one connection, logged in once, that syncs, fetches the bodies the
user opens, replays the user's actions, copies drafts and watches for news; the runner hands it
the work and starts it again after it ended (a refused password). Before anything connects,
`closed` says whether it may: offline (`--offline`, the demo) or started on a full disk, nothing
does. The cancel event, set when the app quits, stops every engine at its next check.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from tuimail.app.bridge import EventBridge
from tuimail.config.schema import AccountConfig
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol
from tuimail.store.db import StoreError, open_store
from tuimail.sync.events import SyncFailed

if TYPE_CHECKING:
    from tuimail.sync.imap.live import LiveSession

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 300.0
SENDER_INTERVAL = 60.0
INDEX_PAUSE = 0.05  # seconds between batches of the search index's completion
INDEX_POLL = 1.0  # seconds between looks for bodies stored unparsed (by any process)
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
        self.senders = Slots()
        # Each IMAP account's live session, while it runs (started on first use).
        self._live: dict[str, LiveSession] = {}
        self._live_lock = threading.Lock()
        # Now, made with the app before Textual replaces sys.stderr: the index thread parses
        # bodies in worker processes (offline too), which need multiprocessing's resource
        # tracker, and it cannot start afterwards.
        from tuimail.store.indexer import start_process_helpers

        start_process_helpers()

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
        self.index_behind()

    def index_behind(self, *, watch: bool = True) -> None:
        """Start the index thread (`_index_behind`). Not network work: no gate, and it runs
        offline too (mail a crashed or stopped `tuimail fetch` left unindexed), where nothing
        brings new mail: `watch` False ends it once the index is complete."""
        self._app.run_worker(
            partial(self._index_behind, watch=watch),
            thread=True,
            group="index",
            name="index",
            exit_on_error=False,
        )

    def _index_behind(self, *, watch: bool) -> None:
        """Worker thread: the full-text index completed behind the engines (the bodies they
        store unparsed, in worker processes when many) and older entries brought to the current
        form (store/reindex.py), a committed batch at a time, the store left to the others
        between batches; with `watch`, for the app's life, looking every INDEX_POLL seconds.
        What is left when the app exits is done at the next start (or by `tuimail sync`)."""
        from tuimail.store import reindex
        from tuimail.store.indexer import complete_index

        try:
            conn = open_store(self._data_dir)
        except StoreError as exc:
            log.warning("the search index is not completed: %s", exc)
            return
        try:
            while not self.cancel.is_set():
                if reindex.behind(conn):
                    complete_index(
                        conn,
                        stop=self.cancel.is_set,
                        between=lambda: self.cancel.wait(INDEX_PAUSE),
                    )
                if not watch:
                    return
                self.cancel.wait(INDEX_POLL)
        except (StoreError, sqlite3.Error) as exc:
            log.warning("completing the search index stopped: %s", exc)
        finally:
            conn.close()

    # --- getting mail -------------------------------------------------------------------------

    def mail_pass(self, account: AccountConfig, *, again_if_busy: bool = False) -> None:
        """Get `account`'s mail: a pass of its live session (IMAP), or a POP3 download in a
        thread worker unless one is running for it (`again_if_busy`: then once more after)."""
        assert account.incoming is not None
        if account.incoming.protocol is Protocol.IMAP:
            if (session := self.live(account)) is not None:
                session.get_mail()
            return
        self.run_keyed(
            self.mail_passes,
            account.name,
            partial(self._pop3_in_thread, account),
            group=f"mail-{account.name}",
            remember=again_if_busy,
        )

    def _pop3_in_thread(self, account: AccountConfig) -> None:
        """Worker thread: one POP3 download of `account`; failures become events."""
        from tuimail.sync.pop3.fetch import Pop3Download

        try:
            Pop3Download(account, self._data_dir, emit=self._bridge.emit, cancel=self.cancel).run()
        except Exception as exc:
            self._report_crash(account, Protocol.POP3, exc)

    # --- an IMAP account's live session -------------------------------------------------------

    def live(self, account: AccountConfig) -> LiveSession | None:
        """`account`'s live session, started if it is not running; None when nothing may
        connect (the gate, `closed`)."""
        from tuimail.sync.imap.live import LiveSession

        if self.closed("fetched or sent") is not None:
            return None
        with self._live_lock:
            session = self._live.get(account.name)
            if session is not None:
                return session
            session = LiveSession(
                account, self._data_dir, emit=self._bridge.emit, cancel=self.cancel
            )
            self._live[account.name] = session
        job = partial(self._live_in_thread, account, session)
        if not self.run_network("fetched or sent", job, group=f"live-{account.name}"):
            with self._live_lock:
                self._live.pop(account.name, None)
            return None
        return session

    def _live_in_thread(self, account: AccountConfig, session: LiveSession) -> None:
        """Worker thread: the live session, until the app exits or the user must act."""
        try:
            session.run()
        except Exception as exc:
            self._report_crash(account, Protocol.IMAP, exc)
        finally:
            with self._live_lock:
                if self._live.get(account.name) is session:
                    del self._live[account.name]

    def watching(self, name: str) -> bool:
        """Whether account `name`'s live session has done all it was asked and waits for
        news."""
        with self._live_lock:
            session = self._live.get(name)
        return session is not None and session.watching

    def replay(self, account: AccountConfig) -> None:
        """Carry `account`'s pending actions to its IMAP server now."""
        if (session := self.live(account)) is not None:
            session.replay()

    def prefetch(self, account: AccountConfig, message_ids: list[int]) -> None:
        """Bring the bodies of `message_ids` (around the cursor) from `account`'s server."""
        if (session := self.live(account)) is not None:
            session.prefetch(message_ids)

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
        """Bring `account`'s Drafts folder on the server up to date (its live session)."""
        if (session := self.live(account)) is not None:
            session.copy_drafts()

    # --- bodies: a message's text (or all of it) on demand ------------------------------------

    def fetch_body(self, account: AccountConfig, message_id: int, *, full: bool) -> None:
        """Fetch one message's body (its text, or with `full` all of it) on `account`'s live
        session; if it cannot come, `BodyNotFetched` says why (the bridge tells the view)."""
        if (session := self.live(account)) is not None:
            session.open_body(message_id, full=full)
