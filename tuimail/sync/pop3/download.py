"""POP3 download in one logged-in session of a fetch pass (`fetch.Pop3Download`): what is new
is read and committed in batches, then the delete policy is applied, only ever to messages
whose bytes are committed.

`Maildrop(owner, pop, conn, account_id, folder_id, tally).download()`: `owner` is the pass,
which the sessions of one pass share; `tally` counts what they did. The session:

1. one UIDL round trip; UIDLs the store has ever seen (`read.known_uidls`, which keeps the
   UIDLs of messages deleted locally) are not fetched again;
2. RETR the new messages, highest message number (newest) first (pipelined when the server
   offers PIPELINING), and store their exact bytes through `store.ingest` in batches, one
   transaction per batch; from WRITER_MESSAGES new messages on, a writer process
   (`store.ingest_process`) stores each batch while the next is read, and the batch's DELEs
   wait for its answer;
3. DELE what the policy says, but only messages whose local copy is committed; the pass then
   ends the session with QUIT, which is when the server applies the DELEs.

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

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from tuimail.config.schema import AccountConfig, ServerConfig
from tuimail.core.crashpoint import crashpoint
from tuimail.core.model import Protocol as MailProtocol
from tuimail.core.tls import printable_line
from tuimail.store import body_codec, db, read
from tuimail.store.ingest import IncomingMessage, pop3_content_key, store_messages
from tuimail.store.ingest_process import IngestWriter, start_writer
from tuimail.sync.events import (
    Emit,
    StoreChanged,
    SyncProgress,
)
from tuimail.sync.pop3.commands import (
    TooLarge,
    Unreadable,
    command,
    header_digest_key,
    read_retr,
    retrieve,
    send_retr,
    stat,
    uidl_listing,
)

if TYPE_CHECKING:
    import poplib
    import sqlite3


def store_batch(
    conn: sqlite3.Connection, folder_id: int, items: list[IncomingMessage], now: datetime
) -> tuple[int, int]:
    """Store one batch in one transaction (in the writer process, for a large download), with
    the crash points around its commit; (how many, the store's revision after it)."""
    # Durable first: the bodies' text is indexed after the pass (store/reindex.py).
    store_messages(
        conn,
        folder_id,
        items,
        now=now,
        before_commit=lambda: crashpoint("pop3.before_commit"),
        defer_index=True,
    )
    revision = read.revision(conn)
    crashpoint("pop3.after_commit")
    body_codec.train_if_due(conn)  # once, when enough mail is stored
    return len(items), revision


log = logging.getLogger(__name__)

FOLDER_NAME = "INBOX"
# A batch is committed when it holds this many messages or bytes, whichever comes first: few
# enough fsyncs for speed (the store is synchronous=FULL), little enough memory to stay flat.
BATCH_MESSAGES = 200
BATCH_BYTES = 8 * 1024 * 1024
# From this many new messages on, batches are stored by a writer process (store/ingest_process)
# while the next ones are read: its start (a fresh interpreter, about a tenth of a second)
# costs more than it saves for fewer.
WRITER_MESSAGES = 1000
# RETR commands sent ahead of the answers when the server offers PIPELINING: enough to keep the
# connection busy while a batch is stored, few enough that commands never fill a socket buffer.
PIPELINE_DEPTH = 8
_PROGRESS_SECONDS = 0.1


class Owner(Protocol):
    """What the sessions of one pass share (the pass, `Pop3Download`)."""

    account: AccountConfig
    server: ServerConfig
    emit: Emit
    cancel: threading.Event
    now: Callable[[], datetime]
    # Message numbers over the size limit, left out for the rest of the pass.
    too_large: set[int]


@dataclass
class Tally:
    """What the sessions of one pass did, for its result."""

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
    """Messages read in full and not yet committed, with their message numbers."""

    numbers: list[int] = field(default_factory=list)
    items: list[IncomingMessage] = field(default_factory=list)
    size: int = 0

    def add(self, number: int, key: str, raw: bytes, content_key: str | None = None) -> None:
        """Add a message read in full, stored under `key`; its content key (computed here when
        not given: with a writer process, beside its work)."""
        self.numbers.append(number)
        content_key = content_key or pop3_content_key(raw)
        self.items.append(IncomingMessage(raw=raw, uidl=key, content_key=content_key))
        self.size += len(raw)

    def full(self) -> bool:
        return len(self.items) >= BATCH_MESSAGES or self.size >= BATCH_BYTES


class Maildrop:
    """One logged-in POP3 session of a pass: listing, download, deletes."""

    def __init__(
        self,
        owner: Owner,
        pop: poplib.POP3,
        conn: sqlite3.Connection,
        account_id: int,
        folder_id: int,
        tally: Tally,
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
        # A large download's batches are stored by a writer process; `_handed` are the batches
        # it has not answered for yet (their DELEs wait for that answer).
        self.writer: IngestWriter | None = None
        self._handed: deque[_Batch] = deque()

    def download(self) -> None:
        """Fetch what is new, then apply the delete policy to what was already here."""
        known = read.known_uidls(self.conn, self.account_id)
        listing = uidl_listing(self.pop, self.owner.account.name)
        if listing is None:
            self.tally.keyed_by_digest = True
            on_server = self._download_by_digest(known)
        else:
            on_server = self._download_by_uidl(listing, known)
        self._commit_batch(last=True)
        if self.tally.cancelled:
            return
        self._settle_known(on_server, known)
        self._commit_batch(last=True)  # messages found behind a UIDL the server used again

    def save_what_was_read(self) -> None:
        """After a failure: commit the messages read in full (no DELE follows)."""
        self.policy_delete = False
        try:
            self._commit_batch(last=True)
        except Exception as exc:
            if db.failure(exc, self.conn) is None:
                raise
            log.error("%s: could not store downloaded messages: %s", self.owner.account.name, exc)

    def close(self) -> None:
        """End the writer process, if one was started (it stores what it was given)."""
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()

    # --- download

    def _download_by_uidl(
        self, listing: list[tuple[int, str]], known: dict[str, float]
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
        if len(fresh) >= WRITER_MESSAGES:
            self.writer = start_writer(self.conn)
        self._total = len(fresh)
        self._progress(force=True)
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
                send_retr(self.pop, next_one[0])
                in_flight.append(next_one)
            if not in_flight:
                return
            number, uidl = in_flight.popleft()
            try:
                raw = read_retr(self.pop, number)
            except TooLarge as exc:
                exc.key = uidl
                raise
            except Unreadable as exc:
                self._skip(exc, uidl)
                self._done += 1
                continue
            self.batch.add(number, uidl, raw)
            self.tally.bytes += len(raw)
            self._done += 1
            self._progress()
            if self.batch.full():
                sending = False  # read what is in flight, then commit
                if not in_flight:
                    self._commit_batch()
                    sending = not self._cancelled()

    def _download_by_digest(self, known: dict[str, float]) -> list[tuple[int, str]]:
        """A server without UIDL: every message is downloaded and keyed by its exact bytes
        (`pop3_content_key`), so two messages are one only when they are byte for byte the same.
        """
        count = stat(self.pop)
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
                raw = retrieve(self.pop, number)
            except Unreadable as exc:
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

    def _stored_by_header(self, raw: bytes, known: dict[str, float]) -> bool:
        """Whether an earlier version stored exactly these bytes under their header digest."""
        legacy = header_digest_key(raw)
        if legacy not in known:
            return False
        return read.pop3_body(self.conn, self.account_id, legacy) == raw

    def _take(self, number: int, key: str, raw: bytes) -> None:
        """Keep a message keyed by its bytes (`key` is its content key, computed already)."""
        self.taken.add(key)
        self.batch.add(number, key, raw, content_key=key)
        self.tally.bytes += len(raw)
        if self.batch.full():
            self._commit_batch()

    def _commit_batch(self, *, last: bool = False) -> None:
        """Commit the batch read, at a point where no answer is in flight (its DELEs follow
        the commit). With a writer process the batch is handed to it and the one before is
        answered for; `last`: every batch is, before this returns."""
        batch, self.batch = self.batch, _Batch()
        if batch.items and self.writer is None:
            count, revision = store_batch(self.conn, self.folder_id, batch.items, self.owner.now())
            self._committed(batch, count, revision)
            return
        if batch.items:
            assert self.writer is not None
            self.writer.submit(store_batch, self.folder_id, batch.items, self.owner.now())
            self._handed.append(batch)
        while self.writer is not None and self._handed and (last or len(self._handed) > 1):
            count, revision = self.writer.wait()
            self._committed(self._handed.popleft(), count, revision)

    def _committed(self, batch: _Batch, count: int, revision: int) -> None:
        """What follows a batch's commit: the tally, the event, the DELEs the policy wants."""
        owner = self.owner
        self.tally.new += count
        owner.emit(StoreChanged(owner.account.name, (self.folder_id,), revision))
        if self.policy_delete and not self.tally.cancelled:
            for number, item in zip(batch.numbers, batch.items, strict=True):
                if item.uidl not in self.duplicates:
                    self._dele(number)

    def _settle_known(self, on_server: list[tuple[int, str]], known: dict[str, float]) -> None:
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
            if not (self.policy_delete or (days > 0 and first_seen < cutoff.timestamp())):
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
        known: dict[str, float],
        *,
        delete_if_known: bool,
        stored_as: str | None = None,
        older_than: datetime | None = None,
    ) -> None:
        try:
            raw = retrieve(self.pop, number)
        except Unreadable as exc:
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
            if older_than is None or first_seen is None or first_seen < older_than.timestamp():
                self._dele(number)

    def _dele(self, number: int) -> None:
        command(self.pop, f"DELE {number}")
        self.tally.dele_sent += 1
        crashpoint("pop3.after_dele")

    def _skip(self, exc: Unreadable, key: str | None) -> None:
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
            SyncProgress(
                owner.account.name, MailProtocol.POP3, FOLDER_NAME, self._done, self._total
            )
        )
