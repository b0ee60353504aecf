"""What sending from the composer does: the checks before a message may be queued in the
outbox, and the queueing (the outbox row, the originals to mark, the draft gone: one commit).

Nothing is sent here: the app's sender worker delivers what is queued after the undo-send
grace period (or at the time chosen), and nothing here touches the network. A message that may
not be queued raises `NotQueued` with the words for the notice; the composer keeps it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tuimail.core.model import Draft
from tuimail.mail.compose import ComposeError
from tuimail.mail.idn import envelope_address, needs_smtputf8, smtputf8_refusal
from tuimail.store import drafts, outbox, outbox_originals, read
from tuimail.store.db import StoreError, StoreFullError, failure, transaction


def unsaved_words(problem: StoreError, what: str) -> str:
    """Why `what` could not be written to the store, in words ("the disk is full")."""
    if isinstance(problem, StoreFullError):
        return f"{what}: the disk is full"
    return f"{what}: {problem}"


class NotQueued(Exception):
    """The message was not queued: `words` say why (plain text, never markup), for an error
    notice shown for `timeout` seconds (None: the default)."""

    def __init__(self, words: str, *, timeout: float | None = None) -> None:
        super().__init__(words)
        self.words = words
        self.timeout = timeout


@dataclass(frozen=True)
class Queued:
    """A message in the outbox: its account, its outbox row, and the seconds until it is due."""

    account_id: int
    outbox_id: int
    delay: float


def queue_message(
    conn: sqlite3.Connection,
    draft: Draft,
    *,
    account: str,
    smtp_server: str,
    send_delay: timedelta,
    message_id: str,
    draft_id: int | None,
    scheduled_at: datetime | None = None,
) -> Queued:
    """Queue `draft` in the outbox, from the store account named `account` (its SMTP server
    `smtp_server`, "host:port"), due after `send_delay` or at `scheduled_at`; the message keeps
    `message_id`, and the stored draft `draft_id` goes with the same commit. Raises NotQueued."""
    sender_email = draft.from_.email
    recipients = [a.email for a in (*draft.to, *draft.cc, *draft.bcc)]
    if not recipients:
        raise NotQueued("Add at least one recipient.")
    try:
        # Attachments stay in their files: enqueue streams them into the outbox row.
        message = drafts.compose_draft(conn, draft, message_id=message_id)
    except ComposeError as exc:
        raise NotQueued(str(exc)) from exc
    account_id = read.account_id(conn, account)
    if account_id is None:
        raise NotQueued("The account is not in the local store yet.")
    # The envelope has the domains' ASCII form (the headers have it too, see compose).
    env_from = envelope_address(sender_email)
    env_rcpts = [envelope_address(r) for r in recipients]
    utf8_needed = [a for a in (sender_email, *recipients) if needs_smtputf8(a)]
    if utf8_needed and read.smtp_utf8(conn, account_id, smtp_server) is False:
        # Known from the last connection: refused now, with the message still here.
        raise NotQueued(
            f"Not queued: {smtputf8_refusal(utf8_needed, smtp_server)}. Use an ASCII address "
            "(ask the recipient for one), or send from an account whose server offers it.",
            timeout=15,
        )
    now = datetime.now(UTC)
    try:
        with transaction(conn):  # queued and the draft gone: one user action, one commit
            item = outbox.enqueue(
                conn,
                account_id,
                message,
                message_id=message_id.strip("<>"),
                env_from=env_from,
                env_rcpts=env_rcpts,
                not_before=now + send_delay,
                scheduled_at=scheduled_at,
                now=now,
            )
            if draft.originals:  # flagged when it is sent, not before
                outbox_originals.set_originals(conn, item, draft.originals)
            if draft_id is not None:
                drafts.discard(conn, draft_id)
    except ComposeError as exc:  # an attachment gone or changed meanwhile
        raise NotQueued(str(exc)) from exc
    except Exception as exc:
        problem = failure(exc, conn)
        if problem is None:
            raise
        raise NotQueued(
            f"{unsaved_words(problem, 'Not queued')}. The message stays here; press "
            "ctrl+s again when there is room.",
            timeout=10,
        ) from exc
    delay = send_delay.total_seconds()
    if scheduled_at is not None:
        delay = max(delay, (scheduled_at - now).total_seconds())
    return Queued(account_id, item, delay)
