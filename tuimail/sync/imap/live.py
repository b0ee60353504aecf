"""An IMAP account's live session: one connection, logged in once and kept, that does all the app
asks of the server, and watches every folder for news in between.

`LiveSession(account, data_dir, emit=..., cancel=...).run()` runs in one worker thread of its
own until `cancel` is set; it owns its connection and its store connection (imapclient is not
thread-safe). Any thread asks for work with `open_body`, `replay`, `copy_drafts`, `get_mail` and
`prefetch`; the work waits in a `JobQueue` (tuimail.sync.imap.jobs), the most urgent first: a
message the user opened before the user's actions, before a pass, before what the server
announced, before the messages around the cursor, before the background download of bodies. A
job never waits for a new connection, a login or a folder list: a flag is one SELECT and one
STORE on the connection that is already there.

On each connection: the user's actions are replayed and the drafts copied, then a pass over the
account follows (the folder list, then every folder, one job each, so what the user asks for
meanwhile goes first); after a reconnect, `ConnectionBack` tells the app that what waited for
the server (the outbox) may go. After a pass, the bodies the account's policy wants are downloaded
in slices, newest first (`download_wanted_bodies`), so that a message opened meanwhile waits for
one slice at most. With nothing to do, the connection waits for news (tuimail.sync.imap.news:
NOTIFY, else IDLE and STATUS, else polling), and the folders that changed are resynced. With IDLE
but no NOTIFY, the account's `notify_folders` other than INBOX get a connection each, up to a
bound, that IDLEs on that folder and asks for its resync (tuimail.sync.imap.watchers).

A lost connection is tried again after a delay that doubles from `backoff_start`, up to
`network_backoff_max` when the network or the server is unreachable (so that mail leaves soon
after it returns) and `backoff_max` for other failures; `Reconnecting` says so in the status
bar. The first failure of a series is reported (SyncFailed), the others only in the log. A
message the user opens while the connection is down ends the wait; when the reconnect fails,
the message view is told why (`BodyNotFetched`). A refused password ends the session
(AuthNeeded): retrying would only lock the account.

Jobs that write what a sync writes take the account's sync lock, one job at a time, so the
session never runs alongside a `tuimail sync` of the account; while the lock is busy they wait,
and the messages the user opens are still fetched.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import imapclient
import imapclient.exceptions

from tuimail.config.schema import AccountConfig
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read, write
from tuimail.store.lock import AccountLock, LockBusyError
from tuimail.sync.events import (
    BodyNotFetched,
    ConnectionBack,
    Emit,
    Event,
    Reconnecting,
    SyncFailed,
    SyncFinished,
    SyncStarted,
    discard,
)
from tuimail.sync.imap.account import AccountResult, ImapSync
from tuimail.sync.imap.drafts import copy_drafts, drafts_due
from tuimail.sync.imap.engine import (
    FetchEndedConnection,
    FolderResult,
    MessageGoneError,
    Unreadable,
    error_text,
)
from tuimail.sync.imap.extensions import ImapProtocolError, logout_quietly
from tuimail.sync.imap.jobs import LOCKED, Job, JobKind, JobQueue
from tuimail.sync.imap.news import (
    CHECK_INTERVAL,
    IDLE_RENEW,
    POLL_INTERVAL,
    STATUS_INTERVAL,
    NewsWatch,
)
from tuimail.sync.imap.watchers import MAX_WATCHERS, FolderWatchers
from tuimail.sync.session import EngineSession, Failure, failure_of

log = logging.getLogger(__name__)

BACKOFF_START = 2.0
BACKOFF_MAX = 300.0
# The network or the server unreachable: tried again at least this often, so that what waits for
# the server goes within seconds of its return.
NETWORK_BACKOFF_MAX = 5.0
NETWORK_KINDS = frozenset(
    {FailureKind.REFUSED, FailureKind.TIMEOUT, FailureKind.DNS, FailureKind.NETWORK}
)
# Bodies per background job: what a message opened meanwhile may wait for. Under the indexer's
# threshold for worker processes, which would start again for every slice.
BODIES_SLICE = 100
# Reconnects in a row after the server ended the connection over a FETCH (BYE to a message it
# cannot read): the message is found and left out (see engine.Unreadable).
MAX_FETCH_RECONNECTS = 20

LOCK_RETRY = 0.25  # seconds between tries of the account's lock while another pass holds it

_AT_ONCE = Failure("reconnect", "the server ended the connection over a message")


@dataclass
class _Pass:
    """A pass over the account, while its folders are synced one job at a time."""

    result: AccountResult
    left: set[int] = field(default_factory=set)


class LiveSession:
    """One IMAP account's live connection and the work done on it (see the module)."""

    def __init__(
        self,
        account: AccountConfig,
        data_dir: Path,
        *,
        emit: Emit = discard,
        cancel: threading.Event | None = None,
        connect: Callable[[], imapclient.IMAPClient] | None = None,
        check_interval: float = CHECK_INTERVAL,
        idle_renew: float = IDLE_RENEW,
        poll_interval: float = POLL_INTERVAL,
        status_interval: float = STATUS_INTERVAL,
        backoff_start: float = BACKOFF_START,
        backoff_max: float = BACKOFF_MAX,
        network_backoff_max: float = NETWORK_BACKOFF_MAX,
        bodies_slice: int = BODIES_SLICE,
        max_watchers: int = MAX_WATCHERS,
    ) -> None:
        if account.incoming is None or account.incoming.protocol is not Protocol.IMAP:
            raise ValueError(f"account {account.name!r} has no IMAP server")
        self.account = account
        self.server = account.incoming
        self.data_dir = Path(data_dir)
        self.emit = emit
        self.cancel = cancel or threading.Event()
        self.connect = connect or self._connect
        self.check_interval = check_interval
        self.idle_renew = idle_renew
        self.poll_interval = poll_interval
        self.status_interval = status_interval
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self.network_backoff_max = network_backoff_max
        self.bodies_slice = bodies_slice
        self.jobs = JobQueue()
        # Without NOTIFY: a connection each for the `notify_folders` (tuimail.sync.imap.watchers).
        self.watchers = FolderWatchers(
            account.name,
            lambda: self.connect(),
            self.jobs,
            cancel=self.cancel,
            check_interval=check_interval,
            idle_renew=idle_renew,
            backoff_start=backoff_start,
            backoff_limit=self._backoff_limit,
            most=max_watchers,
        )
        self._idle_only = False  # the connection has IDLE but not NOTIFY: watchers help it
        # True while the connection waits for news with nothing left to do (all asked is done).
        self.watching = False
        self._connected = False  # whether the current connection got as far as logging in
        self._recovering = False  # the last connection failed: the next one says it is back
        self._told = False  # the failure of this series of reconnects was reported
        self._pass: _Pass | None = None
        self._unreadable = Unreadable()  # messages the server ends the connection over
        self._fetch_reconnects = 0
        self._summary = ""  # what the last pass did, in words
        self._bodies_stored = 0  # bodies the background download stored since it last said so

    # --- asked for by the app (any thread) ----------------------------------------------------

    def open_body(self, message_id: int, *, full: bool = False) -> None:
        """Bring a message's body (its text; with `full` all of it) into the store."""
        self.jobs.put(Job(JobKind.BODY, (message_id, full)))

    def replay(self) -> None:
        """Carry the user's pending actions to the server."""
        self.jobs.put(Job(JobKind.OPS))

    def copy_drafts(self) -> None:
        """Bring the server's Drafts folder up to date with the drafts kept here."""
        self.jobs.put(Job(JobKind.DRAFTS))

    def get_mail(self) -> None:
        """A pass over the account: the folder list, then every folder."""
        self.jobs.put(Job(JobKind.PASS))

    def prefetch(self, message_ids: Iterable[int]) -> None:
        """Bring the bodies of `message_ids` (the messages around the cursor) into the store."""
        ids = tuple(message_ids)
        if ids:
            self.jobs.put(Job(JobKind.PREFETCH, ids))

    # --- the session's thread -------------------------------------------------------------------

    def run(self) -> None:
        """Connect, work and watch until `cancel` is set or the user must act (see the module)."""
        delay = self.backoff_start
        try:
            while not self.cancel.is_set():
                self._connected = False
                failure = self._connection()
                if failure is None:
                    return  # cancelled
                if failure is _AT_ONCE:
                    continue
                if failure.auth or failure.kind == FailureKind.CANCELLED:
                    self._give_up_bodies(failure.message)
                    return
                if not self._connected:
                    # A reconnect failed: the messages waiting to be opened are told why.
                    self._give_up_bodies(failure.message)
                # Asked again by what needs them, after the reconnect.
                self.jobs.remove({JobKind.PREFETCH, JobKind.BODIES, JobKind.FOLDER})
                self._pass = None
                self._recovering = True
                if self._connected:
                    delay = self.backoff_start  # it was up: start the backoff over
                limit = self._backoff_limit(failure.kind)
                delay = min(delay, limit)
                self.emit(Reconnecting(self.account.name, Protocol.IMAP, delay, failure.message))
                if self._pause(delay):
                    return
                delay = min(delay * 2, limit)
        finally:
            self.watchers.stop()
            self.jobs.close()

    def _backoff_limit(self, kind: str) -> float:
        """The longest wait before a reconnect after a failure of `kind`."""
        return self.network_backoff_max if kind in NETWORK_KINDS else self.backoff_max

    def _pause(self, seconds: float) -> bool:
        """Wait `seconds` before reconnecting, less when the user asks for something; True when
        `cancel` was set."""
        waited = 0.0
        # Only what is asked for during the wait cuts it short: what waited already (a pass,
        # the user's actions) goes with the next connection anyway.
        asked = self.jobs.urgent_asked
        while waited < seconds:
            if self.cancel.is_set():
                return True
            if self.jobs.urgent_asked != asked:
                return False
            step = min(self.check_interval, seconds - waited)
            select.select([self.jobs.wake], [], [], step)
            self.jobs.clear_wake()
            waited += step
        return self.cancel.is_set()

    def _connection(self) -> Failure | None:
        """One connection, worked on until it fails (the failure, reported) or `cancel`."""
        with EngineSession(
            self.account,
            Protocol.IMAP,
            self.data_dir,
            self._session_emit,
            report_cancelled=False,
            # The first failure of a series is an error; its retries are logged as warnings.
            log_level=logging.WARNING if self._told else logging.ERROR,
        ) as session:
            client = session.connected(self.connect, close=logout_quietly)
            engine = ImapSync(
                session.store(),
                self.account.name,
                client,
                emit=self.emit,
                cancel=self.cancel,
                unreadable=self._unreadable,
                expunge=self.server.expunge,
                subscribed_only=self.server.subscribed_only,
            )
            self._connected = True
            self._told = False
            news = NewsWatch(
                engine,
                cancel=self.cancel,
                check_interval=self.check_interval,
                idle_renew=self.idle_renew,
                status_interval=self.status_interval,
                poll_interval=self.poll_interval,
                elsewhere=self.watchers.watching,
            )
            log.info("IMAP %s: connected; news by %s", self.account.name, news.mode)
            self._idle_only = news.mode == "IDLE"
            if not self._idle_only:
                self.watchers.choose([], ())  # NOTIFY watches every folder; polling, none
            if self._recovering:
                self._recovering = False
                self.emit(ConnectionBack(self.account.name, Protocol.IMAP))
            # Each connection starts with the user's actions and drafts, then a pass (it may
            # have missed anything while it was not there).
            self.replay()
            self.copy_drafts()
            self.get_mail()
            try:
                self._work(engine, news)
            except FetchEndedConnection:
                # The server ended the connection over a message it cannot read: at once
                # again, what is stored stays stored, and that message is found and left out.
                self._fetch_reconnects += 1
                if self._fetch_reconnects <= MAX_FETCH_RECONNECTS:
                    session.close_client()
                    return _AT_ONCE
                raise
            return None
        return session.failure

    def _work(self, engine: ImapSync, news: NewsWatch) -> None:
        while not self.cancel.is_set():
            job = self.jobs.take()
            if job is None and (behind := self.watchers.behind(engine.conn)):
                # Another connection's EXAMINE counted mail the store lacks.
                for folder_id in behind:
                    self.jobs.put(Job(JobKind.RESYNC, folder_id))
                continue
            if job is None:
                self.watching = True
                try:
                    changed = news.wait(self.jobs.wake)
                finally:
                    self.watching = False
                for folder_id in changed:
                    self.jobs.put(Job(JobKind.RESYNC, folder_id))
                continue
            try:
                self._do(job, engine)
            except BaseException:
                # Lost with the connection: once more on the next one (a job that fails twice
                # is not the connection's fault). The background ones are asked again anyway.
                if job.tries < 1 and job.kind not in (JobKind.PREFETCH, JobKind.BODIES):
                    self.jobs.put(job.again())
                raise

    def _session_emit(self, event: Event) -> None:
        """The session's failures: the first of a series of reconnects is shown, the others
        only logged (the status bar says the session is reconnecting)."""
        if isinstance(event, SyncFailed):
            if self._told:
                return
            self._told = True
        self.emit(event)

    # --- the jobs -------------------------------------------------------------------------------

    def _do(self, job: Job, engine: ImapSync) -> None:
        lock: AccountLock | None = None
        if job.kind in LOCKED or job.kind is JobKind.DRAFTS:
            lock = self._lock("drafts" if job.kind is JobKind.DRAFTS else Protocol.IMAP.value)
            if lock is None:
                # Another pass has the account (a `tuimail sync`): later; what the user opens
                # meanwhile is still fetched.
                self.jobs.put(job)
                self.cancel.wait(LOCK_RETRY)
                return
        try:
            match job.kind:
                case JobKind.BODY:
                    message_id, full = cast(tuple[int, bool], job.subject)
                    self._body(engine, message_id, full=full)
                case JobKind.OPS:
                    engine.replay_ops()
                    if engine.rebuilt_folders or engine.folders_replayed:
                        # Another client renamed or swapped folders, or the user's folder
                        # actions reached the server (or were given up): the folder list and
                        # the folders are read again (a pass), not only the one acted on.
                        engine.folders_replayed = False
                        self.get_mail()
                case JobKind.DRAFTS:
                    self._drafts(engine)
                case JobKind.PASS:
                    self._start_pass(engine)
                case JobKind.RESYNC | JobKind.FOLDER:
                    self._sync_folder(engine, cast(int, job.subject))
                case JobKind.PREFETCH:
                    engine.prefetch_bodies(list(cast(tuple[int, ...], job.subject)))
                case JobKind.BODIES:
                    self._bodies(engine)
        finally:
            if lock is not None:
                lock.release()
        self._fetch_reconnects = 0

    def _body(self, engine: ImapSync, message_id: int, *, full: bool) -> None:
        name = self.account.name
        try:
            engine.fetch_body(message_id, full=full)
        except MessageGoneError as exc:
            log.info("IMAP %s: message %s: %s", name, message_id, exc)
            self.emit(BodyNotFetched(name, message_id, sanitize_line(str(exc)), gone=True))
        except (imapclient.exceptions.IMAPClientError, ImapProtocolError) as exc:
            if isinstance(exc, imapclient.IMAPClient.AbortError):
                raise
            # The server refused it: the view and the status bar say so, in the words of any
            # other refusal; the connection goes on.
            failure = failure_of(exc) or Failure(FailureKind.PROTOCOL, error_text(exc))
            message = sanitize_line(failure.message)
            log.warning("IMAP %s: message %s: %s", name, message_id, message)
            self.emit(SyncFailed(name, Protocol.IMAP, failure.kind, message))
            self.emit(BodyNotFetched(name, message_id, message))

    def _drafts(self, engine: ImapSync) -> None:
        if drafts_due(engine.conn, self.account.name):
            # The drafts worker selects folders on the same client, behind the engine's back.
            engine.forget_selection()
            copy_drafts(engine.conn, self.account.name, engine.client, self.emit,
                        cancel=self.cancel)  # fmt: skip

    def _start_pass(self, engine: ImapSync) -> None:
        """The first part of a pass: the actions, the folder list; every folder is a job."""
        self.emit(SyncStarted(self.account.name, Protocol.IMAP))
        result = AccountResult()
        result.ops_replayed, result.ops_waiting = engine.replay_ops()
        folders = engine.sync_folders()
        if self._idle_only:
            self.watchers.choose(folders, self.account.notify_folders)
        self._pass = _Pass(result, {info.id for info in folders})
        self.jobs.remove({JobKind.FOLDER})
        for info in folders:  # INBOX first
            self.jobs.put(Job(JobKind.FOLDER, info.id))
        if not folders:
            self._end_pass(engine)

    def _sync_folder(self, engine: ImapSync, folder_id: int) -> None:
        info = read.folder(engine.conn, folder_id)
        if info is None:
            return  # gone with the last folder list
        synced: FolderResult | None = None
        error: str | None = None
        try:
            synced = engine.sync_folder(folder_id)
        except (imapclient.exceptions.IMAPClientError, ImapProtocolError) as exc:
            if isinstance(exc, imapclient.IMAPClient.AbortError):
                raise
            error = error_text(exc)
            write.record_folder_error(engine.conn, folder_id, error)
            log.warning("IMAP %s/%s: %s", self.account.name, sanitize_line(info.name), error)
        current = self._pass
        if current is not None and folder_id in current.left:
            current.left.discard(folder_id)
            if synced is not None:
                current.result.folders.append(synced)
            if error is not None:
                current.result.folder_errors[info.name] = error
            if not current.left:
                self._end_pass(engine)
        elif synced is not None and synced.new:
            news = f"{sanitize_line(info.display_name)}: {synced.new} new"
            self.emit(SyncFinished(self.account.name, Protocol.IMAP, news))

    def _bodies(self, engine: ImapSync) -> None:
        """One slice of the bodies the account's policy wants, newest first; the next slice
        is another job, after what the user asked for meanwhile."""
        got = engine.download_wanted_bodies(self.server.bodies, limit=self.bodies_slice)
        self._bodies_stored += got.stored
        if got.remaining:
            self.jobs.put(Job(JobKind.BODIES))
        elif self._bodies_stored:
            # The status line showed the download's progress: it ends with what was done.
            stored, self._bodies_stored = self._bodies_stored, 0
            noun = "body" if stored == 1 else "bodies"
            summary = f"{self._summary}, " if self._summary else ""
            done = f"{summary}{stored} {noun} downloaded for offline reading"
            self.emit(SyncFinished(self.account.name, Protocol.IMAP, done))
        for folder_id, problem in got.problems.items():
            # The engine leaves these out of its later slices; the next connection tries again.
            failed = read.folder(engine.conn, folder_id)
            where = sanitize_line(failed.display_name if failed else f"folder {folder_id}")
            text = f"bodies for offline reading: {where}: {sanitize_line(problem)}"
            self.emit(SyncFailed(self.account.name, Protocol.IMAP, FailureKind.FOLDER, text))

    def _end_pass(self, engine: ImapSync) -> None:
        """A pass is done: say what it did, then download the bodies the policy wants."""
        current, self._pass = self._pass, None
        if current is None:
            return
        result = current.result
        marked = read.marked_deleted(engine.conn, engine.account_id)
        result.marked_deleted = sum(marked.get(f.folder_id, 0) for f in result.folders)
        summary = result.summary()
        self._summary = summary
        name = self.account.name
        if result.folder_errors:
            folder, error = next(iter(result.folder_errors.items()))
            text = sanitize_line(f"{summary}; {folder}: {error}")
            self.emit(SyncFailed(name, Protocol.IMAP, FailureKind.FOLDER, text))
        else:
            self.emit(SyncFinished(name, Protocol.IMAP, summary))
        if self.server.bodies.wants_any():
            self.jobs.put(Job(JobKind.BODIES))

    def _give_up_bodies(self, reason: str) -> None:
        """Tell the message view why the bodies it waits for do not come."""
        for job in self.jobs.remove({JobKind.BODY}):
            message_id, _ = cast(tuple[int, bool], job.subject)
            self.emit(BodyNotFetched(self.account.name, message_id, sanitize_line(reason)))

    # --- the account's lock ---------------------------------------------------------------------

    def _lock(self, purpose: str) -> AccountLock | None:
        """The account's lock for `purpose`, or None when another pass holds it."""
        lock = AccountLock(self.data_dir, self.account.name, purpose)
        try:
            lock.acquire(0)
        except LockBusyError:
            return None
        return lock

    def _connect(self) -> imapclient.IMAPClient:
        from tuimail.auth.credentials import get_password
        from tuimail.sync.imap.connect import connect_imap

        return connect_imap(
            self.server,
            ca_file=self.account.ca_file,
            password=lambda: get_password(self.account, Protocol.IMAP),
        )
