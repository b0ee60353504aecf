"""Keeping one IMAP folder (the inbox) up to date as mail arrives: IDLE, else polling.

`ImapIdleWatcher(account, data_dir, emit=..., cancel=...).run()` runs in a worker thread of its
own until `cancel` is set. It owns its connection and store connection (imapclient is not
thread-safe), and reports only through `emit`:

- on connecting it resyncs the folder and emits SyncFinished (the engine emits StoreChanged and
  NewMail as it stores things);
- then it waits in IDLE (RFC 2177) where the server offers it, waking at least every
  `check_interval` seconds to look at `cancel`, and re-issuing IDLE every `idle_renew` seconds,
  well before the 29 minutes after which a server may drop an idle client; an EXISTS, EXPUNGE,
  FETCH or VANISHED ends the IDLE and the folder is resynced. Without IDLE it resyncs every
  `poll_interval` seconds;
- each connection is an engine session (`tuimail.sync.session`), whose one error map says what
  failed: a dropped connection emits SyncFailed with kind "network", a store that cannot be
  written (a full disk, a lock held too long) one with kind "store_full" or "store_locked", a
  refused command "protocol", and so on; each is retried after a delay that doubles from
  `backoff_start` up to `backoff_max`; the next good connection resyncs and emits
  SyncFinished again. A refused password emits AuthNeeded and ends the watcher (retrying would
  only lock the account); so does a folder that is not there.

Each resync takes the account's sync lock, so it never runs alongside a `tuimail sync` or
another pass over the same account; while the lock is busy the resync waits, and the other pass
has the news anyway. Every socket operation has the connection's timeout; IDLE waits are
bounded by `check_interval`.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import imapclient

from tuimail.config.schema import AccountConfig
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.store.db import StoreConnection
from tuimail.store.lock import AccountLock, LockBusyError
from tuimail.sync.deadline import deadline_of
from tuimail.sync.events import Emit, SyncFailed, SyncFinished, SyncStarted, discard
from tuimail.sync.imap.account import ImapSync
from tuimail.sync.imap.compress import buffered_input
from tuimail.sync.imap.engine import FolderResult, SyncCancelled, Unreadable
from tuimail.sync.imap.extensions import logout_quietly, server_response
from tuimail.sync.session import EngineSession, Failure

log = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0  # longest wait before `cancel` is looked at
IDLE_RENEW = 24 * 60.0  # IDLE is re-issued this often (servers may drop it after 29 minutes)
POLL_INTERVAL = 60.0  # resync interval on a server without IDLE
BACKOFF_START = 2.0
BACKOFF_MAX = 300.0

# Untagged responses during IDLE that mean the folder changed.
_CHANGES = {b"EXISTS", b"EXPUNGE", b"FETCH", b"VANISHED"}

Connect = Callable[[], imapclient.IMAPClient]


class _Stop(Exception):
    """The watcher ends (cancelled, or the user must act first)."""


class ImapIdleWatcher:
    """Watches one folder of one IMAP account until `cancel` is set (see the module)."""

    def __init__(
        self,
        account: AccountConfig,
        data_dir: Path,
        *,
        emit: Emit = discard,
        cancel: threading.Event | None = None,
        folder: str = "INBOX",
        connect: Connect | None = None,
        check_interval: float = CHECK_INTERVAL,
        idle_renew: float = IDLE_RENEW,
        poll_interval: float = POLL_INTERVAL,
        backoff_start: float = BACKOFF_START,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        if account.incoming is None or account.incoming.protocol is not Protocol.IMAP:
            raise ValueError(f"account {account.name!r} has no IMAP server")
        self.account = account
        self.data_dir = Path(data_dir)
        self.emit = emit
        self.cancel = cancel or threading.Event()
        self.folder = folder
        self.connect = connect or self._connect
        self.check_interval = check_interval
        self.idle_renew = idle_renew
        self.poll_interval = poll_interval
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self._connected = False  # whether the current connection got as far as its resync
        self._unreadable = Unreadable()  # messages the server ends the connection over
        # Whether the last connection failed (the status line says so until one works again).
        self._recovering = False

    def run(self) -> None:
        """Watch until `cancel` is set (or the user must act: AuthNeeded, no such folder)."""
        delay = self.backoff_start
        while not self.cancel.is_set():
            self._connected = False
            try:
                failure = self._session()
            except _Stop:
                return
            if failure is None or failure.auth or failure.kind == FailureKind.CANCELLED:
                return
            # Anything else (the network, the server, the store) may pass: try again later.
            self._recovering = True
            if self._connected:
                delay = self.backoff_start  # it was up: start the backoff over
            if self.cancel.wait(delay):
                return
            delay = min(delay * 2, self.backoff_max)

    # --- one connection

    def _session(self) -> Failure | None:
        """One connection, watched until it fails (the failure, already reported) or `cancel`."""
        with EngineSession(
            self.account,
            Protocol.IMAP,
            self.data_dir,
            self.emit,
            report_cancelled=False,
            log_level=logging.WARNING,
        ) as session:
            client = session.connected(self.connect, close=logout_quietly)
            self._watch(client, session.store())
        return session.failure

    def _watch(self, client: imapclient.IMAPClient, conn: StoreConnection) -> None:
        name = self.account.name
        # The first connection follows the app's own sync, whose summary ("first download:
        # 2000 messages") stays on the status line unless this resync has something to add.
        if self._recovering:
            self.emit(SyncStarted(name, Protocol.IMAP))
        # Kept across reconnects: a message the server ends the connection over is left out.
        engine = ImapSync(
            conn,
            name,
            client,
            emit=self.emit,
            cancel=self.cancel,
            unreadable=self._unreadable,
            expunge=self.account.incoming.expunge if self.account.incoming else "ask",
        )
        folder_id = self._folder_id(engine)
        result = self._resync(engine, folder_id)
        self._connected = True
        quiet = not self._recovering and not result.new
        self._recovering = False
        self.emit(SyncFinished(name, Protocol.IMAP, _summary(result), quiet=quiet))
        idle = client.has_capability("IDLE")
        log.info(
            "IMAP %s: watching %s with %s",
            name,
            sanitize_line(self.folder),
            "IDLE" if idle else f"a resync every {self.poll_interval:g} s",
        )
        while not self.cancel.is_set():
            changed = self._idle(client, conn, folder_id) if idle else self._poll()
            if changed and not self.cancel.is_set():
                self._resync(engine, folder_id)

    def _folder_id(self, engine: ImapSync) -> int:
        info = read.find_folder(engine.conn, engine.account_id, self.folder)
        if info is None:
            with self._lock():
                engine.sync_folders()
            info = read.find_folder(engine.conn, engine.account_id, self.folder)
        if info is None:
            message = f"there is no folder {self.folder!r} on the server"
            self.emit(
                SyncFailed(
                    self.account.name, Protocol.IMAP, FailureKind.FOLDER, sanitize_line(message)
                )
            )
            raise _Stop(message)
        return info.id

    def _resync(self, engine: ImapSync, folder_id: int) -> FolderResult:
        with self._lock():
            return engine.sync_folder(folder_id)

    def _idle(self, client: imapclient.IMAPClient, conn: StoreConnection, folder_id: int) -> bool:
        """One IDLE, until the folder changes (True), it is time to renew it, or `cancel`."""
        selected = client.select_folder(self.folder, readonly=True)
        # Mail that arrived after the last resync read the folder, and before this SELECT, is
        # already counted in the SELECT's answer: IDLE would not announce it. UIDNEXT says.
        uidnext = selected.get(b"UIDNEXT")
        known = read.folder(conn, folder_id)
        known_next = known.uidnext if known is not None else None
        if isinstance(uidnext, int) and known_next is not None and uidnext > known_next:
            return True
        client.idle()
        started = time.monotonic()
        changed = False
        while not self.cancel.is_set() and time.monotonic() - started < self.idle_renew:
            if not _readable(client, self.check_interval):
                continue
            # The server spoke: reading it is a new answer, however long the IDLE has lasted.
            if (deadline := deadline_of(client.socket())) is not None:
                deadline.restart("the news it announced during IDLE")
            with server_response("IDLE"):
                responses = client.idle_check(timeout=0)
            if not responses:
                # Woken with nothing to read: the server may have closed the connection. Ending
                # the IDLE finds out (it raises when the connection is gone). (idle_check polls
                # the socket: input already inflated, with nothing more on the socket, is read
                # by idle_done here.)
                break
            if any(_is_change(response) for response in responses):
                changed = True
                break
        with server_response("IDLE"):
            _, responses = client.idle_done()
        return changed or any(_is_change(response) for response in responses)

    def _poll(self) -> bool:
        """Wait one poll interval (True: time to resync)."""
        return not self.cancel.wait(self.poll_interval)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Hold the account's sync lock, waited for while checking `cancel`."""
        lock = AccountLock(self.data_dir, self.account.name, Protocol.IMAP.value)
        while True:
            try:
                lock.acquire(0)
                break
            except LockBusyError:
                if self.cancel.wait(self.check_interval):
                    raise SyncCancelled("the watcher was cancelled") from None
        try:
            yield
        finally:
            lock.release()

    def _connect(self) -> imapclient.IMAPClient:
        from tuimail.auth.credentials import get_password
        from tuimail.sync.imap.connect import connect_imap

        server = self.account.incoming
        assert server is not None
        return connect_imap(
            server,
            ca_file=self.account.ca_file,
            password=lambda: get_password(self.account, Protocol.IMAP),
        )


def _readable(client: imapclient.IMAPClient, timeout: float) -> bool:
    """Whether the server sent something (waiting at most `timeout` seconds)."""
    if buffered_input(client):
        return True  # inflated (COMPRESS) input is waiting that select() cannot see
    sock = client.socket()
    pending = getattr(sock, "pending", None)
    if pending is not None and pending():
        return True  # TLS has decrypted bytes buffered that select() cannot see
    ready, _, _ = select.select([sock], [], [], timeout)
    return bool(ready)


def _is_change(response: tuple[object, ...]) -> bool:
    return any(isinstance(part, bytes) and part.upper() in _CHANGES for part in response[:2])


def _summary(result: FolderResult) -> str:
    news = f"{result.new} new" if result.new else "up to date"
    return f"{sanitize_line(result.name)}: {news}, watching for more"
