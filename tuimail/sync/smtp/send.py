"""The outbox sender: due messages of one account over one SMTP connection, each exactly once.

`OutboxSender(account, data_dir, emit=...).run()` makes one pass:

1. take the account's SMTP lock (a cron `tuimail outbox flush` and the app never send the same
   account at once), settle what a dead sender left in 'sending' (`outbox.recover_interrupted`),
   and find the due items (`outbox.due`);
2. connect and log in once (`connect_smtp`: implicit TLS or required STARTTLS), then for each
   item: `begin_sending` (committed), MAIL FROM, RCPT TO per envelope recipient (Bcc included),
   DATA with the final "." held back until `mark_data_end` is committed (`send_data`), read the
   reply, and record it;
3. put a copy of every sent message into the Sent folder: for an IMAP account an APPEND (\\Seen)
   after searching Sent for the Message-ID, so a retried copy is never a second one; for any
   other account a local Sent folder in the store, in the same transaction that marks it sent.

What the server's answers do:
- 2xx after the final ".": sent. Recipients refused at RCPT while others were accepted are
  recorded one by one in the history; those refused with 4xx get a new outbox item of their
  own (same bytes and Message-ID), tried again after a backoff.
- 4xx at connect, MAIL, RCPT (every recipient) or DATA: back to the queue, next attempt after an
  exponential backoff (`backoff`), visible with the reply in the outbox.
- 5xx: failed, with the server's text.
- The connection breaks or times out: before the final "." the item is queued again at once
  (the server discards an unfinished DATA); after it, the item becomes 'unknown' and the user
  decides. Nothing after the final "." is ever resent automatically.

Time (backoff, grace period, schedule) comes from the `now` callable, so tests control it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import email.utils
import itertools
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosmtplib
import imapclient
import imapclient.exceptions

from tuimail.auth.secrets import get_password
from tuimail.config.settings import AccountConfig, ServerConfig
from tuimail.core.crashpoint import crashpoint
from tuimail.core.log import SHOWN
from tuimail.core.model import SEEN, FolderRole, Protocol
from tuimail.core.tls import printable_line
from tuimail.mail.idn import (
    AddressEncodingError,
    envelope_address,
    needs_smtputf8,
    smtputf8_refusal,
)
from tuimail.store import outbox, outbox_originals, outbox_refusals, read, write
from tuimail.store.db import StoreError, open_store, store_path, transaction
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.lock import AccountLock, LockBusyError
from tuimail.store.outbox import OutboxItem, OutboxState
from tuimail.sync.connect.common import (
    DEFAULT_TIMEOUT,
    ConnectError,
    FailureKind,
    connect_imap,
    connect_smtp,
)
from tuimail.sync.events import (
    AuthNeeded,
    Emit,
    StoreChanged,
    SyncFailed,
    SyncFinished,
    SyncProgress,
    SyncStarted,
)
from tuimail.sync.imap.extensions import append_streamed
from tuimail.sync.session import failure_of, store_kind
from tuimail.sync.smtp import wire as smtp_wire

log = logging.getLogger(__name__)
wire = logging.getLogger("tuimail.sync.wire.smtp")

SENT_FOLDER = "Sent"  # the local Sent folder of an account without IMAP
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
_AUTH_KINDS = (FailureKind.AUTH_FAILED, FailureKind.PASSWORD_UNAVAILABLE)
# Connection failures that are worth retrying later (the others need the user: TLS, password).
_TEMPORARY_KINDS = (
    FailureKind.REFUSED,
    FailureKind.TIMEOUT,
    FailureKind.DNS,
    FailureKind.NETWORK,
    FailureKind.PROTOCOL_ERROR,
)
_PERIOD_AFTER_LINE_END = re.compile(rb"\n\.")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_PROGRESS_EVERY = 20
LOCAL_COPY_BATCH = 100  # Sent copies stored per transaction in a local Sent folder

Clock = Callable[[], datetime]


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th attempt met a temporary refusal: 1, 2, 4, ...
    minutes, at most an hour.
    """
    return min(BACKOFF_FIRST * (2 ** max(0, attempts - 1)), BACKOFF_MAX)


class DotStuffer:
    """A message as DATA carries it, one chunk at a time: CRLF line ends, a "." doubled at a
    line start, ending in CRLF (without the final "."). A CR at the end of a chunk waits for
    the next one (it may be half of a CRLF), and a chunk that starts a line knows it does.
    """

    def __init__(self) -> None:
        self._at_line_start = True
        self._held_cr = False
        self._empty = True

    def feed(self, chunk: bytes) -> bytes:
        """The DATA bytes for the next chunk of the message (maybe fewer: see the class)."""
        if self._held_cr:
            chunk = b"\r" + chunk
            self._held_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._held_cr = True
        if not chunk:
            return b""
        self._empty = False
        body = _PERIOD_AFTER_LINE_END.sub(b"\n..", _LINE_END.sub(b"\r\n", chunk))
        if self._at_line_start and body.startswith(b"."):
            body = b"." + body
        self._at_line_start = body.endswith(b"\n")
        return body

    def finish(self) -> bytes:
        """What ends the message: a held CR as a line end, or the CRLF a last line lacks."""
        if self._held_cr or self._empty or not self._at_line_start:
            self._held_cr, self._empty, self._at_line_start = False, False, True
            return b"\r\n"
        return b""


def dot_stuffed(raw: bytes) -> bytes:
    """`raw` as DATA carries it: CRLF line ends, a "." doubled at a line start, ending in CRLF
    (without the final ".")."""
    stuffer = DotStuffer()
    return stuffer.feed(raw) + stuffer.finish()


class DataEndLost(Exception):
    """The connection broke (or timed out) after the final "." of DATA went out: the server may
    or may not have taken the message."""


async def send_data(
    smtp: aiosmtplib.SMTP,
    raw: bytes | Iterable[bytes],
    *,
    before_end: Callable[[], None],
    timeout: float | None = None,
    size: int | None = None,
) -> aiosmtplib.SMTPResponse:
    """DATA for one message, with `before_end()` run (it commits `mark_data_end`) right before
    the final ".\\r\\n" is written. Returns the server's reply to the final "." (any code).

    `raw` is the message, or its chunks with `size` its length: each chunk is dot-stuffed and
    written as it comes, waiting while the connection's buffer is full, so a large message
    never sits in memory whole. aiosmtplib's `SMTP.data()` writes the message and its final "."
    in one go, so this does the same steps through its protocol object: DATA, read the 354,
    write the dot-stuffed message, then the end marker. Raises SMTPResponseException when DATA
    itself is refused, SMTPServerDisconnected / SMTPTimeoutError / OSError when the connection
    breaks before the final ".", and DataEndLost when it breaks after it.
    """
    if isinstance(raw, bytes):
        raw, size = (raw,), len(raw)
    elif size is None:
        raise ValueError("send_data needs the size of a message given in chunks")
    start = await smtp.execute_command(b"DATA", timeout=timeout)
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = smtp.protocol
    lock = smtp_wire.command_lock(protocol) if protocol is not None else None
    if protocol is None or lock is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    stuffer = DotStuffer()
    written = 0
    async with lock:
        for piece in _split_at(raw, size // 2):
            if piece is None:
                crashpoint("smtp.mid_data")
                continue
            body = stuffer.feed(piece)
            written += len(body)
            protocol.write(body)
            # Wait while the transport's buffer is over its limit, but not for ever: a server
            # that stops reading mid-DATA must not hang the sender.
            await asyncio.wait_for(smtp_wire.drain(protocol), timeout)
        body = stuffer.finish()
        written += len(body)
        protocol.write(body)
        await asyncio.wait_for(smtp_wire.drain(protocol), timeout)
        before_end()
        # Replies are kept only while one is expected: arm that before the end marker goes out.
        smtp_wire.expect_reply(protocol)
        protocol.write(b".\r\n")
        crashpoint("smtp.after_data_end")
        wire.debug("> <message, %d bytes> .", written)
        try:
            reply = await protocol.read_response(timeout=timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            smtp.close()
            raise DataEndLost(str(exc) or type(exc).__name__) from exc
    wire.debug("< %d %s", reply.code, printable_line(reply.message, 500))
    return reply


def _split_at(chunks: Iterable[bytes], offset: int) -> Iterator[bytes | None]:
    """The chunks, with None where the byte at `offset` begins (a chunk is cut there)."""
    done = 0
    marked = False
    for chunk in chunks:
        if not marked and done + len(chunk) > offset:
            cut = offset - done
            if cut:
                yield chunk[:cut]
            yield None
            marked = True
            chunk = chunk[cut:]
            done += cut
        done += len(chunk)
        if chunk:
            yield chunk
    if not marked:
        yield None


def sent_copy_bytes(raw: bytes, env_rcpts: Iterable[str]) -> bytes:
    """The Sent folder's copy: the sent bytes plus a Bcc header naming the envelope recipients
    that To and Cc do not (the sender may see whom they sent a blind copy to).
    """
    end = raw.find(b"\r\n\r\n")
    header_end = end + 2 if end >= 0 else len(raw)
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        raw[:header_end] + b"\r\n"
    )
    visible = {
        address.lower()
        for _, address in email.utils.getaddresses(
            [str(v) for field in ("to", "cc") for v in headers.get_all(field, [])]
        )
    }
    hidden = [r for r in env_rcpts if r.lower() not in visible]
    if not hidden:
        return raw
    line = b"Bcc: " + b",\r\n ".join(r.encode("utf-8") for r in hidden) + b"\r\n"
    return raw[:header_end] + line + raw[header_end:]


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What became of one outbox item in a pass."""

    item_id: int
    state: OutboxState
    reply: str
    refused: Mapping[str, str]  # recipient -> reply, for recipients the server refused
    # The account whose message this one answered or forwarded, now flagged by an op that
    # waits for that account's IMAP replay (None: no such message).
    flagged_account: int | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one pass did. `error` is None when the pass itself went well (items may still have
    been refused: see `outcomes`)."""

    account: str
    outcomes: tuple[ItemOutcome, ...] = ()
    recovered_unknown: tuple[int, ...] = ()
    sent_copies: int = 0
    error: str | None = None
    waiting: int = 0  # queued items of the account not due yet (undo-send grace, send later)

    def count(self, state: OutboxState) -> int:
        """How many items ended this pass in `state`."""
        return sum(1 for o in self.outcomes if o.state is state)

    @property
    def failed(self) -> bool:
        """True when the pass failed, or any item failed or became unknown."""
        return (
            self.error is not None
            or bool(self.recovered_unknown)
            or any(o.state in (OutboxState.FAILED, OutboxState.UNKNOWN) for o in self.outcomes)
        )

    @property
    def flagged_accounts(self) -> set[int]:
        """Accounts with a new flag op (\\Answered, $Forwarded) on an original to replay."""
        return {o.flagged_account for o in self.outcomes if o.flagged_account is not None}

    @property
    def quiet(self) -> bool:
        """True when the pass found nothing due and changed nothing (nothing to tell)."""
        return not self.outcomes and not self.recovered_unknown and not self.sent_copies

    def summary(self) -> str:
        """One line for people: "3 sent, 1 waiting to retry, 1 failed"; a pass that found
        nothing due says what waits ("1 waiting to be sent") or "nothing to send"."""
        if not self.outcomes and not self.recovered_unknown:
            return f"{self.waiting} waiting to be sent" if self.waiting else "nothing to send"
        parts = [f"{self.count(OutboxState.SENT)} sent"]
        if deferred := self.count(OutboxState.QUEUED):
            parts.append(f"{deferred} waiting to retry")
        if failed := self.count(OutboxState.FAILED):
            parts.append(f"{failed} failed")
        if unknown := self.count(OutboxState.UNKNOWN) + len(self.recovered_unknown):
            parts.append(f"{unknown} unknown (check, then confirm or retry)")
        partial = sum(1 for o in self.outcomes if o.state is OutboxState.SENT and o.refused)
        if partial:
            parts.append(f"{partial} with refused recipients")
        return ", ".join(parts)


class _Failed(Exception):
    """Ends a pass with SyncFailed (or AuthNeeded); `message` is fit to show."""

    def __init__(self, kind: str, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.auth = auth


class _ConnectionGone(Exception):
    """The SMTP connection cannot carry another message; `outcome` is the current item's."""

    def __init__(self, outcome: ItemOutcome) -> None:
        super().__init__(outcome.reply)
        self.outcome = outcome


class OutboxSender:
    """One sending pass over an account's outbox (see the module docstring). Run it in one
    thread; it runs its own asyncio loop.

    `password` / `imap_password` default to the keyring or password command; `now` is the clock
    for due times, backoff and history; `only` limits the pass to some item ids.
    """

    def __init__(
        self,
        account: AccountConfig,
        data_dir: Path,
        *,
        emit: Emit,
        cancel: threading.Event | None = None,
        password: Callable[[], str] | None = None,
        imap_password: Callable[[], str] | None = None,
        now: Clock | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        lock_timeout: float = 0,
        only: Collection[int] | None = None,
    ) -> None:
        if account.smtp is None:
            raise ValueError(f"account {account.name!r} has no SMTP server configured")
        self.account = account
        self.server: ServerConfig = account.smtp
        self.data_dir = Path(data_dir)
        self.emit = emit
        self.cancel = cancel or threading.Event()
        self.password = password or (lambda: get_password(account, Protocol.SMTP))
        self.imap_password = imap_password or (lambda: get_password(account, Protocol.IMAP))
        self.now = now or (lambda: datetime.now(UTC))
        self.timeout = timeout
        self.lock_timeout = lock_timeout
        self.only = None if only is None else frozenset(only)

    @property
    def server_name(self) -> str:
        """The SMTP server as "host:port", for messages and the store."""
        return f"{self.server.host}:{self.server.port}"

    @property
    def imap(self) -> ServerConfig | None:
        """The IMAP server that keeps the Sent copies (None: a local Sent folder)."""
        incoming = self.account.incoming
        return incoming if incoming is not None and incoming.protocol is Protocol.IMAP else None

    # --- the pass

    def run(self) -> SendResult:
        """Send what is due once; never raises for server, network or store trouble."""
        name = self.account.name
        outcomes: list[ItemOutcome] = []
        unknown: list[int] = []
        copies = 0
        conn: sqlite3.Connection | None = None
        lock = AccountLock(self.data_dir, name, Protocol.SMTP.value, timeout=self.lock_timeout)
        try:
            try:
                lock.acquire()
                conn = open_store(self.data_dir)
                # Commits without an fsync each, except the end of DATA (see outbox.durable):
                # a crash loses none of them; a power loss makes an item unknown or resent
                # before its final ".", never lost or doubled. The pass ends with a sync.
                conn.execute("PRAGMA synchronous = NORMAL")
                incoming = self.account.incoming
                account_id = write.ensure_account(
                    conn, name, incoming.protocol if incoming else None
                )
                _, recovered = outbox.recover_interrupted(
                    conn, account_id=account_id, now=self.now()
                )
                unknown.extend(recovered)
                due = [
                    item
                    for item in outbox.due(conn, now=self.now(), account_id=account_id)
                    if self.only is None or item.id in self.only
                ]
            except LockBusyError as exc:
                raise _Failed("busy", str(exc)) from exc
            except (StoreError, sqlite3.Error, OSError) as exc:
                raise _Failed(
                    store_kind(exc, store_path(self.data_dir)),
                    f"the local store cannot be used: {exc}",
                ) from exc
            # "sending…" only when something is to be sent: a pass that finds nothing due (a
            # message still in its undo-send grace period) leaves the status line alone.
            if due or unknown:
                self.emit(SyncStarted(name, Protocol.SMTP))
            if due:
                crashpoint("smtp.before_connect")
                asyncio.run(self._session(conn, account_id, due, outcomes))
            copies = self._sent_copies(conn, account_id)
            _sync_to_disk(conn)
            waiting = len(outbox.items(conn, account_id=account_id, states=[OutboxState.QUEUED]))
            result = SendResult(name, tuple(outcomes), tuple(unknown), copies, waiting=waiting)
            self.emit(StoreChanged(name, (), read.revision(conn)))
            self._log_outcomes(result)
            self.emit(SyncFinished(name, Protocol.SMTP, result.summary(), quiet=result.quiet))
            return result
        except _Failed as failure:
            return self._failed(conn, outcomes, unknown, copies, failure)
        except (StoreError, sqlite3.Error) as exc:
            kind = store_kind(exc, store_path(self.data_dir))
            store_failed = _Failed(kind, f"the local store failed: {exc}")
            return self._failed(conn, outcomes, unknown, copies, store_failed)
        except Exception as exc:  # a bug must still end the pass with an event, not a dead thread
            return self._failed(conn, outcomes, unknown, copies, self._unforeseen(exc))
        finally:
            if conn is not None:
                conn.close()
            lock.release()

    def _unforeseen(self, exc: Exception) -> _Failed:
        """A failure no step of the pass put in its own words: the engines' one error map
        (`session.failure_of`) says what it is; one it does not know is a bug. The traceback
        is logged either way: no step expected it."""
        log.exception("%s: sending failed unexpectedly", self.account.name)
        failure = failure_of(exc, store=store_path(self.data_dir), timeout=self.timeout)
        if failure is not None:
            return _Failed(failure.kind, printable_line(failure.message), auth=failure.auth)
        return _Failed("internal", f"unexpected error: {printable_line(repr(exc))}")

    def _failed(
        self,
        conn: sqlite3.Connection | None,
        outcomes: list[ItemOutcome],
        unknown: list[int],
        copies: int,
        failure: _Failed,
    ) -> SendResult:
        name = self.account.name
        log.error("%s: sending failed: %s", name, failure.message, extra={SHOWN: True})
        if conn is not None:
            with contextlib.suppress(StoreError, sqlite3.Error):
                self.emit(StoreChanged(name, (), read.revision(conn)))
        if failure.auth:
            self.emit(AuthNeeded(name, Protocol.SMTP, failure.message))
        else:
            self.emit(SyncFailed(name, Protocol.SMTP, failure.kind, failure.message))
        return SendResult(name, tuple(outcomes), tuple(unknown), copies, error=failure.message)

    def _log_outcomes(self, result: SendResult) -> None:
        for outcome in result.outcomes:
            if outcome.state is not OutboxState.SENT or outcome.refused:
                log.warning(
                    "%s: outbox item %d: %s: %s",
                    self.account.name,
                    outcome.item_id,
                    outcome.state.value,
                    outcome.reply,
                )
        log.info("%s: SMTP %s", self.account.name, result.summary())

    # --- SMTP

    async def _session(
        self,
        conn: sqlite3.Connection,
        account_id: int,
        due: list[OutboxItem],
        outcomes: list[ItemOutcome],
    ) -> None:
        try:
            smtp = await connect_smtp(
                self.server,
                ca_file=self.account.ca_file,
                password=self.password,
                timeout=self.timeout,
            )
        except ConnectError as exc:
            if exc.kind in _TEMPORARY_KINDS:
                # Counted as an attempt of every due item, so the backoff shows in the outbox.
                for item in due:
                    deferred = self._defer(conn, item.id, exc.message, temporary=True)
                    if deferred is not None:
                        outcomes.append(deferred)
            raise _Failed(exc.kind.value, exc.message, auth=exc.kind in _AUTH_KINDS) from exc
        try:
            # Remembered, so the composer and `tuimail send` refuse what this server cannot carry.
            write.record_smtp_utf8(
                conn, account_id, self.server_name, smtp.supports_extension("smtputf8")
            )
            for done, item in enumerate(due, 1):
                if self.cancel.is_set():
                    break
                try:
                    outcome = await self._send_one(conn, account_id, smtp, item)
                    if outcome is not None:
                        outcomes.append(outcome)
                except _ConnectionGone as gone:
                    outcomes.append(gone.outcome)
                    raise _Failed("network", gone.outcome.reply) from gone
                if done % _PROGRESS_EVERY == 0 or done == len(due):
                    self.emit(SyncProgress(self.account.name, Protocol.SMTP, None, done, len(due)))
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError) as exc:
                log.debug("%s: QUIT failed: %r", self.account.name, exc)
        finally:
            smtp.close()

    async def _send_one(
        self, conn: sqlite3.Connection, account_id: int, smtp: aiosmtplib.SMTP, queued: OutboxItem
    ) -> ItemOutcome | None:
        item = self._take(conn, queued.id)
        if item is None:
            return None
        size = outbox.raw_size(conn, item.id)
        where = self.server_name
        data_end = False
        try:
            env_from, env_rcpts = _envelope(item)
        except AddressEncodingError as exc:
            reason = f"not sent: {exc}"
            outbox.mark_failed(conn, item.id, reason, now=self.now())
            return ItemOutcome(item.id, OutboxState.FAILED, reason, {})
        # An address with a non-ASCII local part needs SMTPUTF8 (RFC 6531); without it the item
        # fails with the reason, its bytes kept, rather than going out mangled. UTF-8 headers
        # (RFC 6532) go with SMTPUTF8 whenever the server offers it.
        utf8_needed = [a for a in (env_from, *env_rcpts) if needs_smtputf8(a)]
        has_utf8 = smtp.supports_extension("smtputf8")
        if utf8_needed and not has_utf8:
            reason = f"not sent: {smtputf8_refusal(utf8_needed, where)}"
            outbox.mark_failed(conn, item.id, reason, now=self.now())
            return ItemOutcome(item.id, OutboxState.FAILED, reason, {})
        try:
            eight_bit = _is_8bit(conn, item.id)
            options = ["BODY=8BITMIME"] if smtp.supports_extension("8bitmime") and eight_bit else []
            if has_utf8 and (utf8_needed or not _header_block(conn, item.id, size).isascii()):
                options.append("SMTPUTF8")
            if smtp.supports_extension("size"):
                options.append(f"SIZE={size}")
            mail = await smtp.execute_command(
                b"MAIL", f"FROM:<{env_from}>".encode(), *(o.encode() for o in options)
            )
            if mail.code != 250:
                return await self._refused(conn, smtp, item, "MAIL FROM", mail, {})
            crashpoint("smtp.after_mail")
            accepted: dict[str, str] = {}
            refused: dict[str, aiosmtplib.SMTPResponse] = {}
            for rcpt, wire_rcpt in zip(item.env_rcpts, env_rcpts, strict=True):
                reply = await smtp.execute_command(b"RCPT", f"TO:<{wire_rcpt}>".encode())
                if reply.code in (250, 251):
                    accepted[rcpt] = _reply(reply)
                else:
                    refused[rcpt] = reply
            if not accepted:
                # All refused: the mildest refusal decides (any 4xx means "try again later").
                worst = min(refused.values(), key=lambda r: r.code)
                return await self._refused(conn, smtp, item, "RCPT TO", worst, refused)

            def mark_end() -> None:
                nonlocal data_end
                outbox.mark_data_end(conn, item.id, now=self.now())
                data_end = True

            # Read from the row while it is written out; closed before the row changes again.
            chunks = outbox.raw_chunks(conn, item.id)
            try:
                reply = await send_data(
                    smtp, chunks, size=size, before_end=mark_end, timeout=self.timeout
                )
            except aiosmtplib.SMTPDataError as exc:
                answer = aiosmtplib.SMTPResponse(exc.code, exc.message)
                return await self._refused(conn, smtp, item, "DATA", answer, refused)
            finally:
                chunks.close()
            if reply.code != 250:
                return await self._refused(conn, smtp, item, "the end of DATA", reply, refused)
            crashpoint("smtp.after_reply")
            return self._sent(conn, account_id, item, reply, accepted, refused)
        except DataEndLost as exc:
            reason = (
                f"the connection to {where} broke after the whole message was handed over, "
                f"before the server confirmed it ({printable_line(str(exc))}); check whether "
                "it arrived before sending it again"
            )
            outbox.mark_unknown(conn, item.id, reason, now=self.now())
            raise _ConnectionGone(ItemOutcome(item.id, OutboxState.UNKNOWN, reason, {})) from exc
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            smtp.close()
            if data_end:  # cannot happen (send_data raises DataEndLost), but never resend then
                outbox.mark_unknown(conn, item.id, str(exc), now=self.now())
                raise
            reason = (
                f"the connection to {where} broke before the message was complete "
                f"({printable_line(str(exc) or type(exc).__name__)}); it will be sent again"
            )
            outbox.defer(conn, item.id, reason, retry_at=self.now(), now=self.now())
            raise _ConnectionGone(ItemOutcome(item.id, OutboxState.QUEUED, reason, {})) from exc
        except aiosmtplib.SMTPResponseException as exc:  # a malformed reply, before DATA's end
            smtp.close()
            reason = f"unexpected answer from {where}: {_reply_text(exc.code, exc.message)}"
            outbox.defer(
                conn, item.id, reason, retry_at=self.now() + backoff(item.attempts), now=self.now()
            )
            raise _ConnectionGone(ItemOutcome(item.id, OutboxState.QUEUED, reason, {})) from exc

    async def _refused(
        self,
        conn: sqlite3.Connection,
        smtp: aiosmtplib.SMTP,
        item: OutboxItem,
        step: str,
        reply: aiosmtplib.SMTPResponse,
        refused: Mapping[str, aiosmtplib.SMTPResponse],
    ) -> ItemOutcome:
        """Record a refusal at `step` (4xx: back to the queue, 5xx: failed); reset the
        transaction so the connection can carry the next message."""
        text = f"{step}: {_reply(reply)}"
        details = {"recipients": {r: _reply(a) for r, a in refused.items()}} if refused else None
        shown = {r: _reply(a) for r, a in refused.items()}
        if 400 <= reply.code < 500:
            retry_at = self.now() + backoff(item.attempts)
            outbox.defer(conn, item.id, text, retry_at=retry_at, details=details, now=self.now())
            outcome = ItemOutcome(item.id, OutboxState.QUEUED, text, shown)
        else:
            outbox.mark_failed(conn, item.id, text, details=details, now=self.now())
            outcome = ItemOutcome(item.id, OutboxState.FAILED, text, shown)
        if step != "the end of DATA":
            try:
                reset = await smtp.execute_command(b"RSET")
            except (aiosmtplib.SMTPException, OSError) as exc:
                smtp.close()
                raise _ConnectionGone(outcome) from exc
            if reset.code != 250:
                raise _ConnectionGone(outcome)
        return outcome

    def _sent(
        self,
        conn: sqlite3.Connection,
        account_id: int,
        item: OutboxItem,
        reply: aiosmtplib.SMTPResponse,
        accepted: Mapping[str, str],
        refused: Mapping[str, aiosmtplib.SMTPResponse],
    ) -> ItemOutcome:
        """Record a sent message, its refused recipients (a 4xx refusal gets an item of its own
        to try again), and, without IMAP, its local Sent copy: one transaction."""
        text = _reply(reply)
        details = None
        if refused:
            details = {"recipients": {**accepted, **{r: _reply(a) for r, a in refused.items()}}}
            text += f" ({len(accepted)} of {len(item.env_rcpts)} recipients accepted)"
        later = [r for r, a in refused.items() if 400 <= a.code < 500]
        never = {r: _reply(a) for r, a in refused.items() if a.code >= 500}
        has_original = outbox_originals.original(conn, item.id) is not None
        flagged: int | None = None
        # The Sent copy comes after the pass's messages are sent (_sent_copies), unless none is
        # wanted. One transaction only when there is more to write: an UPDATE inside a savepoint
        # makes SQLite keep the row's old pages in memory, the whole message for a large one;
        # and then a durable one, since the retry for the other recipients must not be lost.
        with contextlib.ExitStack() as together:
            if later:
                together.enter_context(outbox.durable(conn))
            if later or never or has_original:
                together.enter_context(transaction(conn))
            if has_original:
                # Sent, so the original is answered (or forwarded) now, not when queued.
                flagged = outbox_originals.flag_original(conn, item.id)
            if never:
                outbox_refusals.record_refusals(conn, item.id, never)
            outbox.mark_sent(
                conn,
                item.id,
                text,
                details=details,
                now=self.now(),
                sent_copy_done=not self.server.sent_copy,
            )
            if later:
                outbox.enqueue_copy(
                    conn,
                    item.id,
                    env_rcpts=later,
                    not_before=self.now() + backoff(item.attempts),
                    reply="RCPT TO: " + "; ".join(f"{r}: {_reply(refused[r])}" for r in later),
                    now=self.now(),
                )
        return ItemOutcome(
            item.id, OutboxState.SENT, text, {r: _reply(a) for r, a in refused.items()}, flagged
        )

    def _take(self, conn: sqlite3.Connection, item_id: int) -> OutboxItem | None:
        """queued → sending, or None when the item was cancelled (or taken back as a draft, or
        retried into another state) since the pass listed what is due: the pass goes on with
        the others instead of failing."""
        try:
            return outbox.begin_sending(conn, item_id, now=self.now())
        except (outbox.ItemGone, outbox.IllegalTransition) as exc:
            log.info("%s: outbox item %d skipped: %s", self.account.name, item_id, exc)
            return None

    def _defer(
        self, conn: sqlite3.Connection, item_id: int, reason: str, *, temporary: bool
    ) -> ItemOutcome | None:
        item = self._take(conn, item_id)
        if item is None:
            return None
        retry_at = self.now() + backoff(item.attempts) if temporary else self.now()
        outbox.defer(conn, item_id, reason, retry_at=retry_at, now=self.now())
        return ItemOutcome(item_id, OutboxState.QUEUED, reason, {})

    # --- the Sent copy

    def _sent_copies(self, conn: sqlite3.Connection, account_id: int) -> int:
        """APPEND the Sent copies still missing (this pass's, and any a crash left behind)."""
        pending = [
            item
            for item in outbox.items(conn, account_id=account_id, states=(OutboxState.SENT,))
            if not item.sent_copy_done
        ]
        if not pending:
            return 0
        if not self.server.sent_copy:  # configured off (only a confirmed item gets here)
            outbox.mark_sent_copies_done(conn, [item.id for item in pending])
            return len(pending)
        if self.imap is None:
            return self._store_local_copies(conn, account_id, pending)
        return self._append_copies(conn, account_id, self.imap, pending)

    def _store_local_copies(
        self, conn: sqlite3.Connection, account_id: int, pending: list[OutboxItem]
    ) -> int:
        """Store the copies for the local Sent folder, a batch per transaction."""
        for start in range(0, len(pending), LOCAL_COPY_BATCH):
            batch = pending[start : start + LOCAL_COPY_BATCH]
            with transaction(conn):
                folder_id = write.upsert_folder(conn, account_id, SENT_FOLDER, role=FolderRole.SENT)
                fresh: dict[str, IncomingMessage] = {}
                for item in batch:
                    # Items of one message (recipients retried later) share one copy.
                    if item.message_id in fresh or read.ids_by_message_id(
                        conn, account_id, item.message_id
                    ):
                        continue
                    # The store keeps a message whole (it parses and indexes it): read whole.
                    raw = sent_copy_bytes(outbox.raw_message(conn, item.id), item.env_rcpts)
                    fresh[item.message_id] = IncomingMessage(raw=raw, flags=(SEEN,))
                store_messages(conn, folder_id, list(fresh.values()), now=self.now())
                outbox.mark_sent_copies_done(conn, [item.id for item in batch])
        return len(pending)

    def _append_copies(
        self,
        conn: sqlite3.Connection,
        account_id: int,
        server: ServerConfig,
        pending: list[OutboxItem],
    ) -> int:
        try:
            client = connect_imap(
                server,
                ca_file=self.account.ca_file,
                password=self.imap_password,
                timeout=self.timeout,
            )
        except ConnectError as exc:
            raise _Failed(
                exc.kind.value,
                f"sent, but the copy for the Sent folder waits: {exc.message}",
                auth=exc.kind in _AUTH_KINDS,
            ) from exc
        done = 0
        try:
            folder = self._imap_sent_folder(conn, account_id, client)
            client.select_folder(folder)
            for item in pending:
                found = client.search(["HEADER", "Message-ID", item.message_id])
                if not found:
                    self._append_copy(conn, client, folder, item)
                    crashpoint("smtp.sent_appended")
                outbox.mark_sent_copy_done(conn, item.id)
                done += 1
            client.logout()
        except (imapclient.exceptions.IMAPClientError, OSError) as exc:
            try:
                client.shutdown()
            except Exception as shutdown_exc:  # already broken: only log it
                log.debug("IMAP shutdown after a failure: %r", shutdown_exc)
            raise _Failed(
                "protocol",
                f"sent, but the copy for the Sent folder waits: {printable_line(str(exc))}",
            ) from exc
        return done

    def _append_copy(
        self,
        conn: sqlite3.Connection,
        client: imapclient.IMAPClient,
        folder: str,
        item: OutboxItem,
    ) -> None:
        """APPEND the Sent copy of `item`: its header with the Bcc line, then the rest of the
        message streamed from the outbox row into the IMAP literal."""
        size = outbox.raw_size(conn, item.id)
        head = _header_block(conn, item.id, size)
        copy_head = sent_copy_bytes(head, item.env_rcpts)
        chunks = outbox.raw_chunks(conn, item.id, start=len(head))
        try:
            append_streamed(
                client,
                folder,
                len(copy_head) + size - len(head),
                itertools.chain((copy_head,), chunks),
                flags=(SEEN,),
                msg_time=_message_date(head) or self.now(),
            )
        finally:
            chunks.close()

    def _imap_sent_folder(
        self, conn: sqlite3.Connection, account_id: int, client: imapclient.IMAPClient
    ) -> str:
        """The IMAP Sent folder: the store's (role SENT), else from the server's LIST (with
        SPECIAL-USE asked for where the server has it), else a new Sent folder, created in the
        personal namespace ("INBOX.Sent" where that is "INBOX.")."""
        for folder in read.folders(conn, account_id):
            if folder.role is FolderRole.SENT:
                return folder.name
        from tuimail.sync.imap.extensions import list_folders, personal_namespace
        from tuimail.sync.imap.folder_sync import assign_roles, folder_role

        listing = [
            (
                name,
                delimiter.decode() if isinstance(delimiter, bytes) else delimiter,
                folder_role(flags),
            )
            for flags, delimiter, name in list_folders(client)
        ]
        for listed in assign_roles(listing):
            if listed.role is FolderRole.SENT:
                return listed.name
        personal = personal_namespace(client)
        name = (personal[0] if personal else "") + SENT_FOLDER
        client.create_folder(name)
        return name


def _sync_to_disk(conn: sqlite3.Connection) -> None:
    """Make this pass's commits durable: FULL from here on, and a checkpoint, which syncs the
    WAL before it copies pages into the database."""
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _envelope(item: OutboxItem) -> tuple[str, tuple[str, ...]]:
    """MAIL FROM and RCPT TO addresses of `item` with their domains as IDNA A-labels (an item
    queued before they were converted is converted here)."""
    return envelope_address(item.env_from), tuple(envelope_address(r) for r in item.env_rcpts)


def _is_8bit(conn: sqlite3.Connection, item_id: int) -> bool:
    with contextlib.closing(outbox.raw_chunks(conn, item_id)) as chunks:
        return not all(chunk.isascii() for chunk in chunks)


def _header_block(conn: sqlite3.Connection, item_id: int, size: int) -> bytes:
    """The message's header lines up to the empty line (the whole message if it has none)."""
    limit = 65_536
    while True:
        head = outbox.raw_head(conn, item_id, limit=limit)
        end = head.find(b"\r\n\r\n")
        if end >= 0:
            return head[: end + 2]
        if len(head) >= size:
            return head
        limit *= 4


def _reply(reply: aiosmtplib.SMTPResponse) -> str:
    return _reply_text(reply.code, reply.message)


def _reply_text(code: int, message: str) -> str:
    """A server reply as one printable line (it is untrusted and goes to the outbox view)."""
    return printable_line(f"{code} {message}", 500)


def _message_date(raw: bytes) -> datetime | None:
    end = raw.find(b"\r\n\r\n")
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        raw[: end + 2 if end >= 0 else len(raw)] + b"\r\n"
    )
    value = headers.get("date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
