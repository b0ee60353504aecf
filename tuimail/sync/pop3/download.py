"""POP3 download: every message on the server once into the account's INBOX, never lost.

`Pop3Download(account, data_dir, emit=...).run()` makes one pass:

1. take the account's POP3 sync lock (a cron `tuimail fetch` and the app never fetch the same
   account at once), open its own store connection, make sure the account and its INBOX exist;
2. connect and log in (`connect_pop3`), then one UIDL round trip; UIDLs the store has ever seen
   (`read.known_uidls`, which keeps the UIDLs of messages deleted locally) are not fetched again;
3. RETR the new messages, highest message number (newest) first, and store their exact bytes
   through `store.ingest` in batches, one transaction per batch;
4. DELE what the policy says, but only messages whose local copy is committed;
5. QUIT, which is when the server applies the DELEs.

Why it never loses or duplicates a message:
- A message is keyed by its UIDL and stored under that key in the same transaction that stores
  it (`pop3_uidls`), so whatever happens after the commit, the next pass skips it.
- DELE follows the commit of the batch holding the message; a crash before QUIT makes the server
  forget every DELE (RFC 1939: deletions happen in the UPDATE state), and the message, already
  known by its UIDL, is not downloaded again.
- Only UIDLs read from the store are deleted for policies, so an empty or missing store deletes
  nothing it did not just download and commit.

Nothing is deleted on the server unless its exact bytes are committed under a key that cannot
collide: every stored message also gets its content key (`pop3_content_key`, a SHA-256 digest of
the whole message, `sha256-message:<hex>`) in `pop3_uidls`. A message stored by an earlier pass
is read again before its DELE and deleted only when its content key is known (or, for messages
stored before content keys, when it equals the stored copy); a server that reuses a UIDL for new
mail gets the new message stored, not deleted unread. A UIDL listed for more than one message
keys nothing: each copy is keyed by its bytes.

A server without UIDL: every message is downloaded on every pass and keyed by its content key,
so two messages are one only when they are byte for byte the same (messages stored by earlier
versions under the digest of their headers, `sha256:<hex>`, are recognised by their bytes).

Cancelling (`cancel` set, checked between messages): the batch already read is committed, no
further DELE is sent, and the session still ends with QUIT. Every DELE already sent was for a
committed message, so letting it take effect is safe, and QUIT frees the server's maildrop lock
at once instead of when the server notices a dropped connection.

A failure in the middle (connection cut, timeout, an -ERR) commits the messages already read in
full, then closes the connection without QUIT, so no DELE of that session takes effect; the next
pass deletes them again.
"""

from __future__ import annotations

import hashlib
import logging
import poplib
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from tuimail.auth.credentials import get_password
from tuimail.config.schema import AccountConfig, ServerConfig
from tuimail.core.crashpoint import crashpoint
from tuimail.core.failure import FailureKind
from tuimail.core.log import SHOWN
from tuimail.core.model import FolderRole, Protocol
from tuimail.core.tls import printable_line
from tuimail.mail import limits
from tuimail.store import read, write
from tuimail.store.db import StoreError, open_store, store_path
from tuimail.store.ingest import IncomingMessage, ParsedRaw, pop3_content_key, store_messages
from tuimail.store.lock import AccountLock, LockBusyError
from tuimail.sync.connection import ConnectError
from tuimail.sync.deadline import CommandTimeout
from tuimail.sync.events import (
    AuthNeeded,
    Emit,
    NewMail,
    StoreChanged,
    SyncFailed,
    SyncFinished,
    SyncProgress,
    SyncStarted,
)
from tuimail.sync.pop3.connect import POP3_MAX_LINE, AnswerTooLargeError, connect_pop3
from tuimail.sync.pop3.wire import get_response, put_command, short_command
from tuimail.sync.session import failure_of, store_kind

if TYPE_CHECKING:
    from concurrent.futures import Future

    from tuimail.store.indexer import BodyIndexer

log = logging.getLogger(__name__)
wire = logging.getLogger("tuimail.sync.wire.pop3")

FOLDER_NAME = "INBOX"
DIGEST_PREFIX = "sha256:"
# A batch is committed when it holds this many messages or bytes, whichever comes first: few
# enough fsyncs for speed (the store is synchronous=FULL), little enough memory to stay flat.
BATCH_MESSAGES = 200
BATCH_BYTES = 8 * 1024 * 1024
# RETR commands sent ahead of the answers when the server offers PIPELINING: enough to keep the
# connection busy while a message is parsed, few enough that commands never fill a socket buffer.
PIPELINE_DEPTH = 8
# Messages handed to a parsing worker at a time (when workers are used: many new messages).
PARSE_CHUNK = 20
_PROGRESS_SECONDS = 0.1
# Sessions of one pass ended by a message over the size limit (each is then left out).
MAX_TOO_LARGE = 20
_AUTH_KINDS = (FailureKind.AUTH_FAILED, FailureKind.PASSWORD_UNAVAILABLE)


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


class _Failed(Exception):
    """Ends a pass with SyncFailed (or AuthNeeded); `message` is fit to show."""

    def __init__(self, kind: str, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.auth = auth


@dataclass
class _Tally:
    new: int = 0
    known: int = 0
    deleted: int = 0
    bytes: int = 0
    cancelled: bool = False
    keyed_by_digest: bool = False
    dele_sent: int = 0
    # Messages the server would not give (RETR -ERR), named for people: skipped this pass.
    unreadable: list[str] = field(default_factory=list)
    first: bool = False  # the folder had never been downloaded completely before this pass


@dataclass
class _Batch:
    """Messages read in full and not yet committed, with their message numbers, and the parses
    started for them in the indexing workers (the first `submitted` items, chunk by chunk)."""

    numbers: list[int] = field(default_factory=list)
    items: list[IncomingMessage] = field(default_factory=list)
    size: int = 0
    parses: list[tuple[Future[list[ParsedRaw]], list[bytes]]] = field(default_factory=list)
    submitted: int = 0

    def add(self, number: int, key: str, raw: bytes) -> None:
        self.numbers.append(number)
        self.items.append(IncomingMessage(raw=raw, uidl=key))
        self.size += len(raw)

    def full(self) -> bool:
        return len(self.items) >= BATCH_MESSAGES or self.size >= BATCH_BYTES


class Pop3Download:
    """One download pass over a POP3 account (see the module docstring). Run it in one thread.

    `password` defaults to the keyring or password command (`credentials.get_password`); it is
    called only once the connection is protected. `now` is the clock for first-seen times and the
    delete-after-N-days policy.
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
        """Download once; never raises for server, network or store trouble (it emits them)."""
        name = self.account.name
        self.emit(SyncStarted(name, Protocol.POP3))
        tally = _Tally()
        folder_id: int | None = None
        conn: sqlite3.Connection | None = None
        lock = AccountLock(self.data_dir, name, Protocol.POP3.value)
        try:
            try:
                lock.acquire()
                conn = open_store(self.data_dir)
                account_id = write.ensure_account(conn, name, Protocol.POP3)
                folder_id = write.upsert_folder(
                    conn, account_id, FOLDER_NAME, role=FolderRole.INBOX
                )
                folder = read.folder(conn, folder_id)
                tally.first = folder is not None and folder.last_sync is None
            except LockBusyError as exc:
                raise _Failed("busy", str(exc)) from exc
            except (StoreError, sqlite3.Error, OSError) as exc:
                raise _Failed(
                    store_kind(exc, store_path(self.data_dir)),
                    f"the local store cannot be used: {exc}",
                ) from exc
            self._pass(conn, account_id, folder_id, tally)
            self._succeeded(conn, folder_id, tally)
        except _Failed as failure:
            self._failed(conn, folder_id, failure)
            return self._result(folder_id, tally, error=failure.message)
        except Exception as exc:  # a bug must still end the pass with an event, not a dead thread
            unforeseen = self._unforeseen(exc)
            self._failed(conn, folder_id, unforeseen)
            return self._result(folder_id, tally, error=unforeseen.message)
        finally:
            if conn is not None:
                conn.close()
            lock.release()
        return self._result(folder_id, tally)

    def _pass(
        self, conn: sqlite3.Connection, account_id: int, folder_id: int, tally: _Tally
    ) -> None:
        for _ in range(MAX_TOO_LARGE + 1):
            pop = self._connect()
            session = _Session(self, pop, conn, account_id, folder_id, tally)
            try:
                session.download()
            except _TooLarge as exc:
                # Keep what was read in full, drop the connection (no QUIT: nothing is
                # deleted), and go on without that message in a new session.
                session.save_what_was_read()
                pop.close()
                tally.dele_sent = 0
                self._note_too_large(exc, tally)
                continue
            except (poplib.error_proto, OSError, EOFError) as exc:
                session.save_what_was_read()
                pop.close()
                raise self._session_failure(exc) from exc
            except BaseException:
                pop.close()
                raise
            try:
                _command(pop, "QUIT")
            except (poplib.error_proto, OSError, EOFError) as exc:
                pop.close()
                raise self._session_failure(exc, quitting=True) from exc
            pop.close()
            break
        else:
            raise _Failed(
                "protocol", f"more than {MAX_TOO_LARGE} messages over the size limit; stopped"
            )
        tally.deleted = tally.dele_sent  # the server applied them at QUIT

    def _connect(self) -> poplib.POP3:
        try:
            return connect_pop3(
                self.server,
                ca_file=self.account.ca_file,
                password=self.password,
                timeout=self.timeout,
            )
        except ConnectError as exc:
            raise _Failed(exc.kind.value, exc.message, auth=exc.kind in _AUTH_KINDS) from exc

    def _unforeseen(self, exc: Exception) -> _Failed:
        """A failure no step of the pass put in its own words: the engines' one error map
        (`session.failure_of`) says what it is; one it does not know is a bug. The traceback
        is logged either way: no step expected it."""
        log.exception("%s: POP3 download failed unexpectedly", self.account.name)
        failure = failure_of(exc, store=store_path(self.data_dir), timeout=self.timeout)
        if failure is not None:
            return _Failed(failure.kind, printable_line(failure.message), auth=failure.auth)
        return _Failed("internal", f"unexpected error: {printable_line(repr(exc))}")

    def _note_too_large(self, exc: _TooLarge, tally: _Tally) -> None:
        """Name a message over the size limit; it is left out for the rest of the pass."""
        self.too_large.add(exc.number)
        shown = f"message {exc.number}" if exc.key is None else f"message {printable_line(exc.key)}"
        tally.unreadable.append(f"{shown}: {exc}")
        log.warning("%s: %s is %s; skipped", self.account.name, shown, exc)

    def _session_failure(self, exc: BaseException, *, quitting: bool = False) -> _Failed:
        where = f"{self.server.host}:{self.server.port}"
        doing = "ending the session (no message was deleted)" if quitting else "downloading"
        if isinstance(exc, _StoreTrouble):
            kind = store_kind(exc.__cause__ or exc, store_path(self.data_dir))
            return _Failed(kind, f"the local store failed while {doing}: {exc.__cause__}")
        if isinstance(exc, poplib.error_proto):
            said = exc.args[0] if exc.args else b""
            text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
            return _Failed(
                "protocol", f"unexpected answer from {where} while {doing}: {printable_line(text)}"
            )
        if isinstance(exc, CommandTimeout):  # it says what was awaited, and how long
            return _Failed("timeout", f"{exc} while {doing}")
        if isinstance(exc, TimeoutError | socket.timeout):
            return _Failed(
                "timeout", f"timed out after {self.timeout:g} s waiting for {where} while {doing}"
            )
        reason = printable_line(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        return _Failed("network", f"the connection to {where} broke while {doing}: {reason}")

    def _succeeded(self, conn: sqlite3.Connection, folder_id: int, tally: _Tally) -> None:
        name = self.account.name
        try:
            if not tally.cancelled:
                write.update_folder_state(conn, folder_id, last_sync=self.now())
            # Messages skipped because the server would not give them stay in the sync health
            # (`H` in the app) until a pass gets them.
            skipped = unreadable_text(tally.unreadable) if tally.unreadable else None
            write.record_folder_error(conn, folder_id, skipped, now=self.now())
            changed = read.revision(conn)
        except (StoreError, sqlite3.Error) as exc:
            kind = store_kind(exc, store_path(self.data_dir))
            raise _Failed(kind, f"the local store failed: {exc}") from exc
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

    def _failed(
        self, conn: sqlite3.Connection | None, folder_id: int | None, failure: _Failed
    ) -> None:
        name = self.account.name
        # The event below is what people see; the log keeps a copy.
        log.error("%s: POP3 failed: %s", name, failure.message, extra={SHOWN: True})
        if conn is not None and folder_id is not None:
            try:
                write.record_folder_error(conn, folder_id, failure.message, now=self.now())
                self.emit(StoreChanged(name, (folder_id,), read.revision(conn)))
            except (StoreError, sqlite3.Error) as exc:
                log.error("%s: could not record the failure in the store: %s", name, exc)
        if failure.auth:
            self.emit(AuthNeeded(name, Protocol.POP3, failure.message))
        else:
            self.emit(SyncFailed(name, Protocol.POP3, failure.kind, failure.message))

    def _result(
        self, folder_id: int | None, tally: _Tally, error: str | None = None
    ) -> FetchResult:
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


class _Unreadable(Exception):
    """The server answered -ERR to the RETR of one message (not a session failure)."""

    def __init__(self, number: int, said: str) -> None:
        super().__init__(said)
        self.number = number
        self.said = said


class _TooLarge(Exception):
    """A RETR answer passed limits.MAX_MESSAGE_BYTES. The rest of it is still on the wire, so
    the session ends; the pass goes on in a new one without that message."""

    def __init__(self, number: int, limit: int) -> None:
        super().__init__(f"larger than the limit of {limit:,} bytes; the rest was not read")
        self.number = number
        self.key: str | None = None  # its UIDL, where known


class _StoreTrouble(OSError):
    """A store failure in the middle of a session (wrapped so the session handler sees it)."""


class _Session:
    """One logged-in POP3 session of a pass: listing, download, deletes."""

    def __init__(
        self,
        owner: Pop3Download,
        pop: poplib.POP3,
        conn: sqlite3.Connection,
        account_id: int,
        folder_id: int,
        tally: _Tally,
    ) -> None:
        self.owner = owner
        self.pop = pop
        self.conn = conn
        self.account_id = account_id
        self.folder_id = folder_id
        self.tally = tally
        self.batch = _Batch()
        self.policy_delete = not owner.server.leave_on_server
        # UIDLs the server gives to more than one message: each copy is keyed by its bytes.
        self.duplicates: set[str] = set()
        # Keys of the messages taken in this pass (a batch never holds one key twice).
        self.taken: set[str] = set()
        # True when the keys of the listing were checked against the bytes in this pass already
        # (a server without UIDL: every message is downloaded to be keyed).
        self.keys_checked = False
        self._last_progress = 0.0
        self._done = 0
        self._total = 0
        # Parses messages while the next ones download (see tuimail.store.indexer); None: inline.
        self._parser: BodyIndexer | None = None

    def download(self) -> None:
        """Fetch what is new, then apply the delete policy to what was already here."""
        known = read.known_uidls(self.conn, self.account_id)
        listing = self._uidl_listing()
        try:
            if listing is None:
                self.tally.keyed_by_digest = True
                on_server = self._download_by_digest(known)
            else:
                on_server = self._download_by_uidl(listing, known)
            self._commit_batch()
        finally:
            if self._parser is not None:
                self._parser.close()
                self._parser = None
        if self.tally.cancelled:
            return
        self._settle_known(on_server, known)
        self._commit_batch()  # messages found behind a UIDL the server used again

    def save_what_was_read(self) -> None:
        """After a failure: commit the messages read in full (no DELE follows)."""
        self.policy_delete = False
        try:
            self._commit_batch()
        except _StoreTrouble as exc:
            log.error("%s: could not store downloaded messages: %s", self.owner.account.name, exc)

    # --- listing

    def _uidl_listing(self) -> list[tuple[int, str]] | None:
        """[(message number, UIDL)] in server order, or None when the server has no UIDL."""
        wire.debug("> UIDL")
        try:
            response, lines, _ = self.pop.uidl()
        except AnswerTooLargeError:
            raise  # the rest of the listing is on the wire: the session cannot go on
        except poplib.error_proto as exc:
            wire.debug("< %s", _shown(exc.args[0] if exc.args else b""))
            return None
        wire.debug("< %s (%d lines)", _shown(response), len(lines))
        listing = []
        for line in lines:
            number_text, _, uidl_bytes = line.partition(b" ")
            # UIDLs are untrusted text kept as data: any bytes decode the same way every time.
            uidl = uidl_bytes.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
            if not number_text.isdigit() or not uidl:
                log.warning("%s: ignoring a malformed UIDL line", self.owner.account.name)
                continue
            listing.append((int(number_text), uidl))
        return listing

    # --- download

    def _download_by_uidl(
        self, listing: list[tuple[int, str]], known: dict[str, datetime]
    ) -> list[tuple[int, str]]:
        seen: dict[str, int] = {}
        for _, uidl in listing:
            seen[uidl] = seen.get(uidl, 0) + 1
        self.duplicates = {uidl for uidl, count in seen.items() if count > 1}
        if self.duplicates:
            log.warning(
                "%s: the server lists %d UIDLs for more than one message; those messages are "
                "recognised by their bytes",
                self.owner.account.name,
                len(self.duplicates),
            )
        fresh: list[tuple[int, str]] = []
        # Highest message number (newest) first; a UIDL listed twice is left to _settle_known.
        for number, uidl in sorted(listing, reverse=True):
            if number in self.owner.too_large:
                continue
            if uidl not in known and uidl not in self.duplicates:
                fresh.append((number, uidl))
                self.taken.add(uidl)
        self.tally.known = len(listing) - len(fresh)
        self._total = len(fresh)
        self._progress(force=True)
        if fresh:
            from tuimail.store.indexer import BodyIndexer  # multiprocessing: only when needed

            parser = BodyIndexer(len(fresh))
            if parser.uses_worker:
                self._parser = parser
            else:
                parser.close()
        self._retrieve_all(fresh)
        self._progress(force=True)
        return listing

    def _retrieve_all(self, fresh: list[tuple[int, str]]) -> None:
        """RETR each message and keep it, with up to PIPELINE_DEPTH commands in flight when the
        server offers PIPELINING (RFC 2449). Before a batch is committed (and DELEs follow) every
        answer in flight is read, so a DELE's answer is never mistaken for a message.
        """
        capabilities = getattr(self.pop, "capabilities", {})
        depth = PIPELINE_DEPTH if "PIPELINING" in capabilities else 1
        in_flight: deque[tuple[int, str]] = deque()
        upcoming = iter(fresh)
        sending = True
        while True:
            while sending and len(in_flight) < depth:
                if self._cancelled() or (next_one := next(upcoming, None)) is None:
                    sending = False
                    break
                self._send_retr(next_one[0])
                in_flight.append(next_one)
            if not in_flight:
                return
            number, uidl = in_flight.popleft()
            try:
                raw = self._read_retr(number)
            except _TooLarge as exc:
                exc.key = uidl
                raise
            except _Unreadable as exc:
                self._skip(exc, uidl)
                self._done += 1
                continue
            self.batch.add(number, uidl, raw)
            self._start_parse()
            self.tally.bytes += len(raw)
            self._done += 1
            self._progress()
            if self.batch.full():
                sending = False  # read what is in flight, then commit
                if not in_flight:
                    self._commit_batch()
                    sending = not self._cancelled()

    def _download_by_digest(self, known: dict[str, datetime]) -> list[tuple[int, str]]:
        """A server without UIDL: every message is downloaded and keyed by its exact bytes
        (`pop3_content_key`), so two messages are one only when they are byte for byte the same.
        """
        count = self._stat()
        self._total = count
        self._progress(force=True)
        self.keys_checked = True
        on_server: list[tuple[int, str]] = []
        for number in range(count, 0, -1):
            if self._cancelled():
                break
            if number in self.owner.too_large:
                continue
            try:
                raw = self._retrieve(number)
            except _Unreadable as exc:
                self._skip(exc, None)
                self._done += 1
                continue
            key = pop3_content_key(raw)
            if key not in known and self._stored_by_header(raw, known):
                key = header_digest_key(raw)  # stored by an earlier version under that key
            on_server.append((number, key))
            if key in known or key in self.taken:
                self.tally.known += 1
            else:
                self._take(number, key, raw)
            self._done += 1
            self._progress()
        self._progress(force=True)
        return on_server

    def _stored_by_header(self, raw: bytes, known: dict[str, datetime]) -> bool:
        """Whether an earlier version stored exactly these bytes under their header digest."""
        legacy = header_digest_key(raw)
        if legacy not in known:
            return False
        return read.pop3_body(self.conn, self.account_id, legacy) == raw

    def _take(self, number: int, key: str, raw: bytes) -> None:
        self.taken.add(key)
        self.batch.add(number, key, raw)
        self.tally.bytes += len(raw)
        if self.batch.full():
            self._commit_batch()

    def _start_parse(self) -> None:
        """Hand the batch's newest PARSE_CHUNK messages to the parsing workers, if any."""
        batch = self.batch
        if self._parser is None or len(batch.items) - batch.submitted < PARSE_CHUNK:
            return
        raws = [item.raw or b"" for item in batch.items[batch.submitted :]]
        batch.parses.append((self._parser.submit_whole(raws), raws))
        batch.submitted = len(batch.items)

    def _commit_batch(self) -> None:
        batch, self.batch = self.batch, _Batch()
        if not batch.items:
            return
        owner = self.owner
        items = batch.items
        if batch.parses:
            from tuimail.store.indexer import BodyIndexer

            # What the workers parsed; the rest of the batch is parsed by store_messages.
            parsed = [p for job, raws in batch.parses for p in BodyIndexer.whole_result(job, raws)]
            items = [replace(item, parsed=p) for item, p in zip(items, parsed, strict=False)]
            items += batch.items[len(parsed) :]
        try:
            store_messages(
                self.conn,
                self.folder_id,
                items,
                now=owner.now(),
                before_commit=lambda: crashpoint("pop3.before_commit"),
            )
            revision = read.revision(self.conn)
        except (StoreError, sqlite3.Error) as exc:
            raise _StoreTrouble(str(exc)) from exc
        crashpoint("pop3.after_commit")
        self.tally.new += len(batch.items)
        owner.emit(StoreChanged(owner.account.name, (self.folder_id,), revision))
        if self.policy_delete and not self.tally.cancelled:
            for number, item in zip(batch.numbers, batch.items, strict=True):
                if item.uidl not in self.duplicates:
                    self._dele(number)

    def _settle_known(self, on_server: list[tuple[int, str]], known: dict[str, datetime]) -> None:
        """Apply the delete policy to messages stored by earlier passes, and store what hides
        behind a UIDL the server gave to more than one message or used again for new mail.

        A message is deleted only when its bytes, read again in this session, are committed
        under their content key (or, for messages stored before content keys, equal the stored
        copy): a server that reuses a UIDL never gets new mail deleted unread. What does not
        match is stored under its content key, then deleted like any new message.
        """
        days = self.owner.server.delete_after_days
        cutoff = self.owner.now() - timedelta(days=days)
        for number, key in on_server:
            if self._cancelled():
                return
            if number in self.owner.too_large:
                continue
            if key in self.duplicates:
                self._check_content(number, known, delete_if_known=self.policy_delete)
                continue
            first_seen = known.get(key)
            if first_seen is None:
                continue  # downloaded in this pass (deleted after its commit) or left alone
            if not (self.policy_delete or (days > 0 and first_seen < cutoff)):
                continue
            if self.keys_checked:
                self._dele(number)
            else:
                # By age, the age of the bytes counts (a UIDL used again is younger mail).
                since = None if self.policy_delete else cutoff
                self._check_content(
                    number, known, delete_if_known=True, stored_as=key, older_than=since
                )

    def _check_content(
        self,
        number: int,
        known: dict[str, datetime],
        *,
        delete_if_known: bool,
        stored_as: str | None = None,
        older_than: datetime | None = None,
    ) -> None:
        try:
            raw = self._retrieve(number)
        except _Unreadable as exc:
            self._skip(exc, stored_as)
            return
        key = pop3_content_key(raw)
        if key in known or key in self.taken:
            committed = True
        elif stored_as is not None:
            # Stored before content keys existed: the local copy is the proof, if it is there.
            committed = read.pop3_body(self.conn, self.account_id, stored_as) == raw
        else:
            committed = False
        if not committed:
            log.warning(
                "%s: message %d on the server is not stored yet (its UIDL names another message "
                "too); storing it",
                self.owner.account.name,
                number,
            )
            self._take(number, key, raw)  # deleted after its commit when the policy says so
        elif delete_if_known:
            first_seen = known.get(key)
            if older_than is None or first_seen is None or first_seen < older_than:
                self._dele(number)

    def _dele(self, number: int) -> None:
        _command(self.pop, f"DELE {number}")
        self.tally.dele_sent += 1
        crashpoint("pop3.after_dele")

    # --- commands

    def _retrieve(self, number: int) -> bytes:
        """The exact message: lines joined with CRLF, dot-unstuffed, with a final CRLF."""
        self._send_retr(number)
        return self._read_retr(number)

    # RETR is pipelined and its answer read here line by line, which poplib's public methods
    # cannot do (pop3_wire's put_command / get_response).
    def _send_retr(self, number: int) -> None:
        wire.debug("> RETR %d", number)
        put_command(self.pop, f"RETR {number}")

    def _read_retr(self, number: int) -> bytes:
        try:
            response = get_response(self.pop)
        except poplib.error_proto as exc:
            # A one-line -ERR for this message (Dovecot: "-ERR Message 2 expunged." when it
            # cannot read the file); the session itself goes on.
            said = _shown(exc.args[0] if exc.args else b"-ERR")
            wire.debug("< %s (message %d)", said, number)
            raise _Unreadable(number, said) from exc
        wire.debug("< %s (message %d)", _shown(response), number)
        limit = limits.MAX_MESSAGE_BYTES
        try:
            return b"".join(_read_multiline(self.pop, crash_step=True, limit=limit))
        except _AnswerTooLarge as exc:
            wire.debug("< (message %d over %d bytes; the rest not read)", number, limit)
            raise _TooLarge(number, limit) from exc

    def _skip(self, exc: _Unreadable, key: str | None) -> None:
        """Leave out a message the server would not give: nothing of it is stored or deleted,
        the rest goes on, and the next pass asks for it again."""
        shown = f"message {exc.number}" if key is None else f"message {printable_line(key)}"
        self.tally.unreadable.append(f"{shown}: {exc.said}")
        log.warning(
            "%s: the server would not give %s (%s); skipped, tried again next time",
            self.owner.account.name,
            shown,
            exc.said,
        )

    def _stat(self) -> int:
        wire.debug("> STAT")
        try:
            count, _size = self.pop.stat()
        except (ValueError, IndexError) as exc:  # poplib reads "+OK count size" without checks
            raise poplib.error_proto(b"-ERR malformed STAT answer") from exc
        wire.debug("< +OK %d", count)
        return int(count)

    # --- progress and cancel

    def _cancelled(self) -> bool:
        if self.owner.cancel.is_set():
            self.tally.cancelled = True
        return self.tally.cancelled

    def _progress(self, *, force: bool = False) -> None:
        moment = time.monotonic()
        if not force and moment - self._last_progress < _PROGRESS_SECONDS:
            return
        self._last_progress = moment
        owner = self.owner
        owner.emit(
            SyncProgress(owner.account.name, Protocol.POP3, FOLDER_NAME, self._done, self._total)
        )


def unreadable_text(unreadable: list[str] | tuple[str, ...]) -> str:
    """The sentence naming messages the server would not give (RETR answered -ERR)."""
    count = len(unreadable)
    names = "; ".join(unreadable[:3]) + ("; …" if count > 3 else "")
    noun = "message" if count == 1 else "messages"
    return f"{count} {noun} the server would not give, skipped and tried again next time ({names})"


def header_digest_key(message: bytes) -> str:
    """The key earlier versions gave a message on a server without UIDL: a digest of its header
    section (two messages with the same headers got the same key; kept to recognise them).

    The same for the message and for its `TOP n 0` answer (both end the headers with CRLF CRLF).
    """
    end = message.find(b"\r\n\r\n")
    header = message if end < 0 else message[: end + 2]
    return DIGEST_PREFIX + hashlib.sha256(header).hexdigest()


class _AnswerTooLarge(Exception):
    """A multi-line answer passed its limit."""


def _read_multiline(
    pop: poplib.POP3, *, crash_step: bool = False, limit: int | None = None
) -> Iterator[bytes]:
    """The body of a multi-line response, line by line with CRLF ends, dot-unstuffed.

    Reads `pop.file` directly: poplib refuses lines over 2048 bytes and builds lists of lines;
    here each line may be up to POP3_MAX_LINE and is yielded as it arrives.
    """
    readline = pop.file.readline
    first = True
    total = 0
    while True:
        line = readline(POP3_MAX_LINE + 1)
        total += len(line)
        if limit is not None and total > limit:
            raise _AnswerTooLarge()
        if len(line) > POP3_MAX_LINE:
            raise poplib.error_proto(b"-ERR line too long")
        if not line:
            raise EOFError("the server closed the connection in the middle of a response")
        if line == b".\r\n" or line == b".\n":
            return
        if line[:2] == b"..":
            line = line[1:]
        if line[-2:] == b"\r\n":
            yield line
        elif line[-1:] == b"\n":
            yield line[:-1] + b"\r\n"
        else:
            yield line  # only at the end of the stream: the next read reports it
        if first and crash_step:
            first = False
            crashpoint("pop3.mid_retr")


def _command(pop: poplib.POP3, command: str) -> bytes:
    wire.debug("> %s", command)
    try:
        response = short_command(pop, command)
    except poplib.error_proto as exc:
        wire.debug("< %s", _shown(exc.args[0] if exc.args else b""))
        raise
    wire.debug("< %s", _shown(response))
    return response


def _shown(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return printable_line(text)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
