"""POP3 fetch: one pass over a POP3 account (`tuimail fetch`, the app's Get mail), every message
on the server once into the account's INBOX, never lost.

`Pop3Download(account, data_dir, emit=...).run()` makes one pass:

1. take the account's POP3 sync lock (a cron `tuimail fetch` and the app never fetch the same
   account at once), open its own store connection, make sure the account and its INBOX exist;
2. connect and log in (`EngineSession.connect_pop3`) and download in that session
   (`download.Maildrop`: the new messages are stored in batches, then DELE goes only to
   messages whose local copy is committed, as the delete policy says);
3. QUIT, which is when the server applies the DELEs.

Why that never loses or duplicates a message is told in `download`; the commands and what they
read are in `commands`. A message over the size
limit ends its session (the rest of it is still on the wire) and the pass goes on in a new one
without it. The lock, the store, the connection and the words of a failure are the engine
session's (`tuimail.sync.session`); a failure is also recorded in the folder's sync health.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tuimail.auth.credentials import get_password
from tuimail.config.schema import AccountConfig, ServerConfig
from tuimail.core.failure import FailureKind
from tuimail.core.log import SHOWN
from tuimail.core.model import FolderRole, Protocol
from tuimail.core.tls import printable_line
from tuimail.store import db, read, write
from tuimail.sync.events import Emit, NewMail, StoreChanged, SyncFinished, SyncStarted
from tuimail.sync.pop3.commands import TooLarge, command
from tuimail.sync.pop3.connect import pop3_for
from tuimail.sync.pop3.download import FOLDER_NAME, Maildrop, Tally
from tuimail.sync.session import EngineFailed, EngineSession, Failure

log = logging.getLogger(__name__)

# Sessions of one pass ended by a message over the size limit (each is then left out).
MAX_TOO_LARGE = 20


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one pass did. `error` is None when it went well (a cancelled pass went well too)."""

    account: str
    folder_id: int | None
    new: int = 0
    known: int = 0
    deleted: int = 0
    bytes: int = 0
    cancelled: bool = False
    keyed_by_digest: bool = False
    error: str | None = None
    first: bool = False  # the maildrop's first download: what came was there already
    unreadable: tuple[str, ...] = ()  # messages the server would not give, skipped this time

    @property
    def ok(self) -> bool:
        """True when the pass did not fail."""
        return self.error is None

    def summary(self) -> str:
        """One line for people: "12 new messages, 3 deleted on the server"; a first download
        says "first download: 2000 messages" (they were not new, they were all there)."""
        if self.first and self.new:
            parts = [f"first download: {_count(self.new, 'message')}"]
        else:
            parts = [_count(self.new, "new message") if self.new else "no new messages"]
        if self.deleted:
            parts.append(f"{self.deleted} deleted on the server")
        text = ", ".join(parts)
        if self.unreadable:
            text += f"; {unreadable_text(self.unreadable)}"
        if self.cancelled:
            text = f"stopped early: {text}"
        if self.keyed_by_digest:
            text += (
                " (the server has no UIDL: every message is downloaded again on each pass to "
                "recognise it; leave_on_server = false keeps that short)"
            )
        return text


class Pop3Download:
    """One download pass over a POP3 account (see the module docstring). Run it in one thread.

    `password` defaults to the keyring or password command (`credentials.get_password`); it is
    called only once the connection is protected. `now` is the clock for first-seen times and
    the delete-after-N-days policy.
    """

    def __init__(
        self,
        account: AccountConfig,
        data_dir: Path,
        *,
        emit: Emit,
        cancel: threading.Event | None = None,
        password: Callable[[], str] | None = None,
        now: Callable[[], datetime] | None = None,
        timeout: float | None = None,
    ) -> None:
        server = account.incoming
        if server is None or server.protocol is not Protocol.POP3:
            raise ValueError(f"account {account.name!r} has no POP3 server configured")
        self.account = account
        self.server: ServerConfig = server
        self.data_dir = Path(data_dir)
        self.emit = emit
        self.cancel = cancel or threading.Event()
        self.password = password or (lambda: get_password(account, Protocol.POP3))
        self.now = now or (lambda: datetime.now(UTC))
        self.timeout = server.timeout if timeout is None else timeout  # one read
        # Message numbers over the size limit, left out for the rest of the pass. The numbers
        # hold across its sessions: no session that ends this way deletes anything.
        self.too_large: set[int] = set()

    # --- the pass

    def run(self) -> FetchResult:
        """Download once; never raises for server, network or store trouble (it emits them),
        nor for a bug (an "internal" failure, with its traceback in the log)."""
        name = self.account.name
        self.emit(SyncStarted(name, Protocol.POP3))
        tally = Tally()
        folder_id: int | None = None
        where = f"{self.server.host}:{self.server.port}"

        def record(failure: Failure) -> None:
            """The failure goes into the folder's sync health (`H` in the app) too."""
            conn = session.conn
            if conn is None or folder_id is None:
                return
            try:
                write.record_folder_error(conn, folder_id, failure.message, now=self.now())
                self.emit(StoreChanged(name, (folder_id,), read.revision(conn)))
            except Exception as exc:
                if db.failure(exc, conn) is None:
                    raise
                log.error("%s: could not record the failure in the store: %s", name, exc)

        with EngineSession(
            self.account,
            Protocol.POP3,
            self.data_dir,
            self.emit,
            during=f"the download from {where}",
            timeout=self.timeout,
            bugs_reported=True,
            on_failure=record,
        ) as session:
            session.lock()
            conn = session.store()
            account_id = write.ensure_account(conn, name, Protocol.POP3)
            folder_id = write.upsert_folder(conn, account_id, FOLDER_NAME, role=FolderRole.INBOX)
            folder = read.folder(conn, folder_id)
            tally.first = folder is not None and folder.last_sync is None
            self._pass(session, conn, account_id, folder_id, tally)
            self._succeeded(conn, folder_id, tally)
            return self._result(folder_id, tally)
        assert session.failure is not None
        return self._result(folder_id, tally, error=session.failure.message)

    def _pass(
        self,
        session: EngineSession,
        conn: sqlite3.Connection,
        account_id: int,
        folder_id: int,
        tally: Tally,
    ) -> None:
        for _ in range(MAX_TOO_LARGE + 1):
            pop = pop3_for(session, self.password, timeout=self.timeout)
            maildrop = Maildrop(self, pop, conn, account_id, folder_id, tally)
            try:
                maildrop.download()
            except TooLarge as exc:
                # Keep what was read in full, drop the connection (no QUIT: nothing is
                # deleted), and go on without that message in a new session.
                maildrop.save_what_was_read()
                session.close_client()
                tally.dele_sent = 0
                self._note_too_large(exc, tally)
                continue
            except Exception:
                # Keep what was read in full; the session closes the connection without QUIT,
                # so no DELE of this session takes effect.
                maildrop.save_what_was_read()
                raise
            finally:
                maildrop.close()
            where = f"{self.server.host}:{self.server.port}"
            session.during = f"the end of the session with {where} (no message was deleted)"
            command(pop, "QUIT")
            session.close_client()
            break
        else:
            too_many = f"more than {MAX_TOO_LARGE} messages over the size limit; stopped"
            raise EngineFailed(Failure(FailureKind.PROTOCOL, too_many))
        tally.deleted = tally.dele_sent  # the server applied them at QUIT

    def _note_too_large(self, exc: TooLarge, tally: Tally) -> None:
        """Name a message over the size limit; it is left out for the rest of the pass."""
        self.too_large.add(exc.number)
        shown = f"message {exc.number}" if exc.key is None else f"message {printable_line(exc.key)}"
        tally.unreadable.append(f"{shown}: {exc}")
        log.warning("%s: %s is %s; skipped", self.account.name, shown, exc)

    def _succeeded(self, conn: sqlite3.Connection, folder_id: int, tally: Tally) -> None:
        name = self.account.name
        if not tally.cancelled:
            write.update_folder_state(conn, folder_id, last_sync=self.now())
        # Messages skipped because the server would not give them stay in the sync health
        # (`H` in the app) until a pass gets them.
        skipped = unreadable_text(tally.unreadable) if tally.unreadable else None
        write.record_folder_error(conn, folder_id, skipped, now=self.now())
        changed = read.revision(conn)
        self.emit(StoreChanged(name, (folder_id,), changed))
        if tally.new:
            self.emit(NewMail(name, folder_id, tally.new, first=tally.first))
        result = self._result(folder_id, tally)
        if tally.keyed_by_digest:
            log.warning(
                "%s: the POP3 server has no UIDL; every message is downloaded on each pass and "
                "recognised by a digest of its bytes",
                name,
                extra={SHOWN: True},  # the SyncFinished summary says it
            )
        log.info(
            "%s: POP3 %d new (%d bytes), %d already here, %d deleted on the server%s",
            name,
            tally.new,
            tally.bytes,
            tally.known,
            tally.deleted,
            " (cancelled)" if tally.cancelled else "",
        )
        self.emit(SyncFinished(name, Protocol.POP3, result.summary()))

    def _result(self, folder_id: int | None, tally: Tally, error: str | None = None) -> FetchResult:
        return FetchResult(
            account=self.account.name,
            folder_id=folder_id,
            new=tally.new,
            known=tally.known,
            deleted=tally.deleted,
            bytes=tally.bytes,
            cancelled=tally.cancelled,
            keyed_by_digest=tally.keyed_by_digest,
            error=error,
            first=tally.first,
            unreadable=tuple(tally.unreadable),
        )


def unreadable_text(unreadable: list[str] | tuple[str, ...]) -> str:
    """The sentence naming messages the server would not give (RETR answered -ERR)."""
    count = len(unreadable)
    names = "; ".join(unreadable[:3]) + ("; …" if count > 3 else "")
    noun = "message" if count == 1 else "messages"
    return f"{count} {noun} the server would not give, skipped and tried again next time ({names})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
