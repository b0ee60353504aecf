"""The engine session: one way to lock an account, open the store, connect, and say what failed.

Every engine entry point (a sync pass, a body on demand, the inbox watcher, a server search)
runs its work inside an `EngineSession`:

    with EngineSession(account, Protocol.IMAP, data_dir, emit, during="the sync") as session:
        session.lock()                  # the account's sync lock, where the work needs it
        conn = session.store()          # a store connection of this thread
        client = imap_for(session)      # connected and logged in (logged out at the end)
        ...                             # the work; `return` from here on success
    return False                        # reached only when the session failed

Whatever goes wrong inside the block is put in words by `failure_of`, the one table from an
exception to a failure kind and message, and reported once: AuthNeeded when the user must act
(no password, a refused one), else SyncFailed with the kind. An exception the table does not
know is a bug and propagates (the app reports it as an internal error). The command line turns
the kinds into exit statuses (`tuimail.cli.errors.exit_status`).

A step that words its own failure raises `EngineFailed` (the table passes its Failure through).
A pass that must end with an event whatever happened (the POP3 download, the outbox sender) is
made with `bugs_reported=True`: an exception the table does not know is then an "internal"
failure, with its traceback in the log.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tuimail.config.schema import AccountConfig
from tuimail.core.failure import FailureKind
from tuimail.core.log import SHOWN
from tuimail.core.model import Protocol
from tuimail.core.tls import printable_line
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import db
from tuimail.store.lock import AccountLock, LockBusyError
from tuimail.sync.errors import EngineCancelled, FolderMissing, ServerProtocolError
from tuimail.sync.events import AuthNeeded, Emit, SyncFailed, shows_failures

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


log = logging.getLogger(__name__)


UNEXPECTED = "the server sent something unexpected (a protocol error of the server)"


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong, in words: `kind` to branch on, `message` one line fit to show."""

    kind: str
    message: str
    auth: bool = False  # the user must act (a password is missing or refused)


def failure_of(
    exc: BaseException,
    *,
    store: object = None,
    during: str = "",
    timeout: float | None = None,
    kept: str = "",
) -> Failure | None:
    """The one table from what an engine raised to a failure; None for a bug.

    `store`: the store's connection or path (for the words of a store failure); `during`: what
    was being done ("the sync"), for a connection that failed on the way; `timeout`: the
    connection's timeout in seconds; `kept`: what stays after a cancel or a timeout.
    """
    from tuimail.sync.connection import ConnectError
    from tuimail.sync.deadline import CommandTimeout, ConnectionAborted

    def detail() -> str:
        # poplib's errors carry the server's line as bytes: its text, not the bytes' repr.
        said = exc.args[0] if len(exc.args) == 1 else None
        if isinstance(said, bytes):
            return printable_line(said.decode("utf-8", "replace"))
        return str(exc) or type(exc).__name__

    if isinstance(exc, EngineFailed):
        return exc.failure
    after = f"; {kept}" if kept else ""
    # The program is quitting (`deadline.abort_all`): the libraries wrap the socket's error in
    # their own, so it is looked for along the chain.
    if any(isinstance(link, ConnectionAborted) for link in _chain(exc)):
        return Failure(FailureKind.CANCELLED, f"cancelled{after}")
    if isinstance(exc, ConnectError):
        auth = exc.kind in (FailureKind.AUTH_FAILED, FailureKind.PASSWORD_UNAVAILABLE)
        return Failure(exc.kind.value, exc.message, auth=auth)
    if isinstance(exc, LockBusyError):
        return Failure(FailureKind.BUSY, str(exc))
    stored = db.failure(exc, store if isinstance(store, str | Path) else _path_of(store))
    if stored is not None:
        return Failure(store_kind(stored), str(stored))
    # The engines' own exceptions (subclasses of tuimail.sync.errors).
    if isinstance(exc, EngineCancelled):
        return Failure(FailureKind.CANCELLED, f"cancelled{after}")
    if isinstance(exc, FolderMissing):
        return Failure(FailureKind.FOLDER, str(exc))
    if isinstance(exc, ServerProtocolError):
        return Failure(FailureKind.PROTOCOL, f"{UNEXPECTED}: {exc}")
    # A command's deadline says what it waited for (imaplib wraps it in its own error); a
    # read's timeout only "timed out".
    deadline = next((link for link in _chain(exc) if isinstance(link, CommandTimeout)), None)
    if deadline is not None or isinstance(exc, TimeoutError):
        text = str(deadline) if deadline is not None else ""
        if not text and timeout is not None:
            text = f"timed out after {timeout:g} s waiting for the server"
        return Failure(FailureKind.TIMEOUT, f"{text or 'timed out waiting for the server'}{after}")
    imapclient_exceptions = sys.modules.get("imapclient.exceptions")
    aborted: tuple[type[BaseException], ...] = ()
    refused: tuple[type[BaseException], ...] = ()
    if imapclient_exceptions is not None:
        aborted = (imapclient_exceptions.IMAPClientAbortError,)
        refused = (imapclient_exceptions.IMAPClientError,)
    if isinstance(exc, aborted) and "unexpected response" in str(exc):
        # imaplib gives up on the connection over a line that is no IMAP response too; that is
        # the server's fault, not the network's.
        return Failure(FailureKind.PROTOCOL, f"{UNEXPECTED}: {detail()}")
    if isinstance(exc, (OSError, EOFError, *aborted)):
        where = f" during {during}" if during else ""
        return Failure(FailureKind.NETWORK, f"the connection failed{where}: {detail()}")
    poplib = sys.modules.get("poplib")
    if poplib is not None:
        refused = (*refused, poplib.error_proto)
    # A NO or BAD to a command (imapclient raises its error), or an answer that does not parse.
    if isinstance(exc, (*refused, ValueError)):
        return Failure(FailureKind.PROTOCOL, f"the server refused or garbled a command: {detail()}")
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or during, innermost last."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def store_kind(exc: BaseException, where: Path | None = None) -> str:
    """The failure kind of a failure of the store (at `where`): a full disk, a lock held too
    long, or other trouble (an unusable file, a data directory that cannot be written)."""
    stored = db.failure(exc, where)
    if isinstance(stored, db.StoreFullError):
        return FailureKind.STORE_FULL
    if isinstance(stored, db.StoreLockedError):
        return FailureKind.STORE_LOCKED
    return FailureKind.STORE


def _path_of(store: object) -> str | None:
    path = getattr(store, "path", None)
    return str(path) if path is not None else None


class EngineFailed(Exception):
    """A step of an engine put its failure in its own words: `failure` is reported as it is."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class EngineSession:
    """One session of an engine with an account: lock, store, connection, and the one failure
    report (see the module). Use as a context manager; the resources it opened are closed at
    the end of the block, in reverse order, whatever happened.

    `on_failure` runs before the failure is reported, with the store still open (the session's
    `conn`, None when it was not opened): an engine records the failure there. `timeout` is the
    connection's (default: the incoming server's), for the words of a timeout.
    """

    def __init__(
        self,
        account: AccountConfig,
        protocol: Protocol,
        data_dir: Path,
        emit: Emit,
        *,
        during: str = "",
        kept: str = "",
        prefix: str = "",
        report_cancelled: bool = True,
        log_level: int = logging.ERROR,
        timeout: float | None = None,
        bugs_reported: bool = False,
        on_failure: Callable[[Failure], None] | None = None,
    ) -> None:
        self.account = account
        self.protocol = protocol
        self.data_dir = Path(data_dir)
        self.emit = emit
        self.during = during
        self.kept = kept
        self.prefix = prefix
        self.report_cancelled = report_cancelled
        self.log_level = log_level
        self.timeout = timeout
        self.bugs_reported = bugs_reported
        self.on_failure = on_failure
        self.failure: Failure | None = None  # set when the block failed
        self._lock: AccountLock | None = None
        self._conn: db.StoreConnection | None = None
        self._client: Any = None
        self._close: Callable[[Any], None] | None = None

    @property
    def conn(self) -> db.StoreConnection | None:
        """The store connection, if the session opened it."""
        return self._conn

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        failure: Failure | None = None
        try:
            self.close_client()
            if exc is not None and isinstance(exc, Exception):
                failure = self._failure(exc)
                if failure is not None:
                    self.failure = failure
                    self._record(failure)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._lock is not None:
                self._lock.release()
                self._lock = None
        if failure is None:
            return False  # no failure, or a bug: the caller's crash report says so
        self._report(failure)
        return True

    def _failure(self, exc: Exception) -> Failure | None:
        """`exc` in words (`failure_of`), with the session's prefix; None for a bug."""
        server = self.account.incoming if self.protocol is not Protocol.SMTP else None
        timeout = self.timeout
        if timeout is None and server is not None:
            timeout = server.timeout
        failure = failure_of(
            exc,
            store=db.store_path(self.data_dir),
            during=self.during,
            timeout=timeout,
            kept=self.kept,
        )
        if failure is None:
            if not self.bugs_reported:
                return None
            # A bug must still end the pass with an event, not a dead thread; no step expected
            # it, so the traceback goes to the log.
            log.error(
                "%s %s failed unexpectedly",
                self.protocol.value.upper(),
                self.account.name,
                exc_info=exc,
            )
            failure = Failure(
                FailureKind.INTERNAL, f"unexpected error: {printable_line(repr(exc))}"
            )
        elif self.prefix:
            failure = Failure(failure.kind, f"{self.prefix}{failure.message}")
        return failure

    def fail(self, failure: Failure) -> None:
        """Report `failure` (once per session) and remember it."""
        self.failure = failure
        self._record(failure)
        self._report(failure)

    def _record(self, failure: Failure) -> None:
        if self.on_failure is not None:
            self.on_failure(failure)

    def _report(self, failure: Failure) -> None:
        name = self.account.name
        if failure.kind == FailureKind.CANCELLED and not self.report_cancelled:
            return
        # The event is what people see (the app, a command's progress): the log keeps a copy,
        # which the terminal gets too unless the command already prints the failure (the app
        # prints log lines once it has ended, so they never cross its screen).
        log.log(
            self.log_level,
            "%s %s: %s",
            self.protocol.value.upper(),
            name,
            failure.message,
            extra={SHOWN: shows_failures(self.emit)},
        )
        message = sanitize_line(failure.message)
        if failure.auth:
            self.emit(AuthNeeded(name, self.protocol, message))
        else:
            self.emit(SyncFailed(name, self.protocol, failure.kind, message))

    def lock(self, purpose: str | None = None, *, timeout: float = 0) -> None:
        """Take the account's lock for `purpose` (default: this protocol's sync), waiting up to
        `timeout` seconds for another process to let go (then LockBusyError)."""
        lock = AccountLock(
            self.data_dir, self.account.name, purpose or self.protocol.value, timeout=timeout
        )
        lock.acquire()
        self._lock = lock

    def store(self) -> db.StoreConnection:
        """The store connection of this session (opened on the first call)."""
        if self._conn is None:
            self._conn = db.open_store(self.data_dir)
        return self._conn

    def connected(self, connect: Callable[[], Any], *, close: Callable[[Any], None]) -> Any:
        """Connect with `connect` (see `imap_for`, `pop3_for` and `smtp_for` in the protocols'
        `connect` modules, or a test's), and end the client with `close` when the session ends
        or reconnects."""
        self.close_client()
        self._client = connect()
        self._close = close
        return self._client

    def close_client(self) -> None:
        """Close the current client now (a reconnect follows, or the session ends)."""
        if self._client is None:
            return
        client, self._client = self._client, None
        close, self._close = self._close, None
        if close is not None:
            close(client)
