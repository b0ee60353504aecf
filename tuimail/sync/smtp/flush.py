"""The outbox flush: due messages of one account over one SMTP connection, each exactly once
(`tuimail outbox flush`, the app's sender).

`OutboxSender(account, data_dir, emit=...).run()` makes one pass:

1. take the account's SMTP lock (a cron `tuimail outbox flush` and the app never send the same
   account at once), settle what a dead sender left in 'sending' (`outbox.recover_interrupted`),
   and find the due items (`outbox.due`);
2. connect and log in once (`EngineSession.connect_smtp`: implicit TLS or required STARTTLS),
   then send each item in a transaction of its own (`send.Delivery`: what the server's answers
   make of it is told there);
3. put a copy of every sent message into the Sent folder (`sent_copy.SentCopies`).

A connection that fails in a way worth retrying counts as an attempt of every due item, so the
backoff shows in the outbox. When it failed because the server could not be reached at all
(refused, timed out, no name, no network) the items are marked so, and a pass started with
`expedite=True` (the app's, once the server answers again) sends them without waiting for the
end of their backoff; items deferred by the server's own reply keep theirs. Time (backoff,
grace period, schedule) comes from the `now` callable, so tests control it. The lock, the store,
the connections and the words of a failure are the engine session's (`tuimail.sync.session`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib

from tuimail.auth.credentials import get_password
from tuimail.config.schema import AccountConfig, ServerConfig
from tuimail.core.crashpoint import crashpoint
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol
from tuimail.store import db, outbox, read, write
from tuimail.store.outbox import OutboxItem, OutboxState
from tuimail.sync.connection import DEFAULT_TIMEOUT, ConnectError
from tuimail.sync.events import Emit, StoreChanged, SyncFinished, SyncProgress, SyncStarted
from tuimail.sync.session import EngineFailed, EngineSession, Failure
from tuimail.sync.smtp.connect import smtp_for
from tuimail.sync.smtp.send import Clock, ConnectionGone, Delivery, ItemOutcome
from tuimail.sync.smtp.sent_copy import SentCopies

log = logging.getLogger(__name__)

# Connection failures that are worth retrying later (the others need the user: TLS, password).
_TEMPORARY_KINDS = (
    FailureKind.REFUSED,
    FailureKind.TIMEOUT,
    FailureKind.DNS,
    FailureKind.NETWORK,
    FailureKind.PROTOCOL_ERROR,
)
# Of those, the ones that say the server could not be reached at all: nothing was said by it (a
# 4xx greeting or an odd answer is PROTOCOL_ERROR and keeps its backoff).
_UNREACHABLE_KINDS = frozenset(
    {FailureKind.REFUSED, FailureKind.TIMEOUT, FailureKind.DNS, FailureKind.NETWORK}
)
_PROGRESS_EVERY = 20


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
        return {account for o in self.outcomes for account in o.flagged_accounts}

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


class OutboxSender:
    """One sending pass over an account's outbox (see the module docstring). Run it in one
    thread; it runs its own asyncio loop.

    `password` / `imap_password` default to the keyring or password command; `now` is the clock
    for due times, backoff and history; `only` limits the pass to some item ids; `expedite`
    makes the items that wait only because the server could not be reached due now (call it
    when the server is known to answer again).
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
        expedite: bool = False,
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
        self.expedite = expedite

    @property
    def server_name(self) -> str:
        """The SMTP server as "host:port", for messages and the store."""
        return f"{self.server.host}:{self.server.port}"

    # --- the pass

    def run(self) -> SendResult:
        """Send what is due once; never raises for server, network or store trouble, nor for a
        bug (an "internal" failure, with its traceback in the log)."""
        name = self.account.name
        outcomes: list[ItemOutcome] = []
        unknown: list[int] = []
        copies = 0

        def record(failure: Failure) -> None:
            """The outbox view shows what the pass did before it failed."""
            conn = session.conn
            if conn is None:
                return
            try:
                self.emit(StoreChanged(name, (), read.revision(conn)))
            except Exception as exc:
                if db.failure(exc, conn) is None:
                    raise

        with EngineSession(
            self.account,
            Protocol.SMTP,
            self.data_dir,
            self.emit,
            during=f"sending to {self.server_name}",
            timeout=self.timeout,
            bugs_reported=True,
            on_failure=record,
        ) as session:
            session.lock(timeout=self.lock_timeout)
            conn = session.store()
            # Commits without an fsync each, except the end of DATA (see outbox.durable): a
            # crash loses none of them; a power loss makes an item unknown or resent before its
            # final ".", never lost or doubled. The pass ends with a sync.
            db.commit_without_fsync(conn)
            incoming = self.account.incoming
            account_id = write.ensure_account(conn, name, incoming.protocol if incoming else None)
            _, recovered = outbox.recover_interrupted(conn, account_id=account_id, now=self.now())
            unknown.extend(recovered)
            if self.expedite:
                outbox.expedite_unreachable(conn, account_id, now=self.now())
            due = [
                item
                for item in outbox.due(conn, now=self.now(), account_id=account_id)
                if self.only is None or item.id in self.only
            ]
            # "sending…" only when something is to be sent: a pass that finds nothing due (a
            # message still in its undo-send grace period) leaves the status line alone.
            if due or unknown:
                self.emit(SyncStarted(name, Protocol.SMTP))
            if due:
                crashpoint("smtp.before_connect")
                asyncio.run(self._session(session, conn, account_id, due, outcomes))
            copies = SentCopies(
                session,
                conn,
                self.account,
                imap_password=self.imap_password,
                now=self.now,
                timeout=self.timeout,
            ).store(account_id)
            db.sync_to_disk(conn)
            waiting = len(outbox.items(conn, account_id=account_id, states=[OutboxState.QUEUED]))
            result = SendResult(name, tuple(outcomes), tuple(unknown), copies, waiting=waiting)
            self.emit(StoreChanged(name, (), read.revision(conn)))
            self._log_outcomes(result)
            self.emit(SyncFinished(name, Protocol.SMTP, result.summary(), quiet=result.quiet))
            return result
        assert session.failure is not None
        error = session.failure.message
        return SendResult(name, tuple(outcomes), tuple(unknown), copies, error=error)

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
        session: EngineSession,
        conn: db.StoreConnection,
        account_id: int,
        due: list[OutboxItem],
        outcomes: list[ItemOutcome],
    ) -> None:
        delivery = Delivery(
            conn, account=self.account.name, server=self.server, now=self.now, timeout=self.timeout
        )
        try:
            smtp = await smtp_for(session, self.password, timeout=self.timeout)
        except ConnectError as exc:
            if exc.kind in _TEMPORARY_KINDS:
                # Counted as an attempt of every due item, so the backoff shows in the outbox.
                unreachable = exc.kind in _UNREACHABLE_KINDS
                for item in due:
                    deferred = delivery.defer(
                        item.id, exc.message, temporary=True, unreachable=unreachable
                    )
                    if deferred is not None:
                        outcomes.append(deferred)
            raise  # the session says what failed
        try:
            # Remembered, so the composer and `tuimail send` refuse what this server cannot carry.
            write.record_smtp_utf8(
                conn, account_id, self.server_name, smtp.supports_extension("smtputf8")
            )
            for done, item in enumerate(due, 1):
                if self.cancel.is_set():
                    break
                try:
                    outcome = await delivery.send(smtp, item)
                    if outcome is not None:
                        outcomes.append(outcome)
                except ConnectionGone as gone:
                    outcomes.append(gone.outcome)
                    raise EngineFailed(Failure(FailureKind.NETWORK, gone.outcome.reply)) from gone
                if done % _PROGRESS_EVERY == 0 or done == len(due):
                    self.emit(SyncProgress(self.account.name, Protocol.SMTP, None, done, len(due)))
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError) as exc:
                log.debug("%s: QUIT failed: %r", self.account.name, exc)
        finally:
            session.close_client()
