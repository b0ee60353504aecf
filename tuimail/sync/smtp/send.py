"""Sending one outbox item over SMTP: MAIL FROM, RCPT TO per envelope recipient (Bcc
included), DATA with the final "." held back until `mark_data_end` is committed (`send_data`),
then the reply, recorded in the outbox.

`Delivery(conn, ...).send(smtp, item)` sends one item on a logged-in connection (`begin_sending`
is committed first); the pass that calls it is `flush.OutboxSender`.

What the server's answers do:
- 2xx after the final ".": sent. Recipients refused at RCPT while others were accepted are
  recorded one by one in the history; those refused with 4xx get a new outbox item of their
  own (same bytes and Message-ID), tried again after a backoff.
- 4xx at connect, MAIL, RCPT (every recipient) or DATA: back to the queue, next attempt after an
  exponential backoff (`backoff`), visible with the reply in the outbox. A server that cannot be
  reached at all gets the same backoff, marked `unreachable` (`Delivery.defer`): that one is cut
  short when the server answers again (`flush.OutboxSender(expedite=True)`).
- 5xx: failed, with the server's text.
- The connection breaks or times out: before the final "." the item is queued again at once
  (the server discards an unfinished DATA); after it, the item becomes 'unknown' and the user
  decides. Nothing after the final "." is ever resent automatically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosmtplib

from tuimail.config.schema import ServerConfig
from tuimail.core.crashpoint import crashpoint
from tuimail.core.tls import printable_line
from tuimail.mail.idn import (
    AddressEncodingError,
    envelope_address,
    needs_smtputf8,
    smtputf8_refusal,
)
from tuimail.store import outbox, outbox_originals, outbox_refusals
from tuimail.store.db import transaction
from tuimail.store.outbox import OutboxItem, OutboxState
from tuimail.sync.smtp import wire as smtp_wire

log = logging.getLogger(__name__)
wire_log = logging.getLogger("tuimail.sync.wire.smtp")

BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
_PERIOD_AFTER_LINE_END = re.compile(rb"\n\.")
_LINE_END = re.compile(rb"\r\n|\r|\n")

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
        wire_log.debug("> <message, %d bytes> .", written)
        try:
            reply = await protocol.read_response(timeout=timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            smtp.close()
            raise DataEndLost(str(exc) or type(exc).__name__) from exc
    wire_log.debug("< %d %s", reply.code, printable_line(reply.message, 500))
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


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What became of one outbox item in a pass."""

    item_id: int
    state: OutboxState
    reply: str
    refused: Mapping[str, str]  # recipient -> reply, for recipients the server refused
    # The accounts of the messages this one answered or forwarded, now flagged by ops that
    # wait for those accounts' IMAP replay (empty: no such message).
    flagged_accounts: frozenset[int] = frozenset()


class ConnectionGone(Exception):
    """The SMTP connection cannot carry another message; `outcome` is the current item's."""

    def __init__(self, outcome: ItemOutcome) -> None:
        super().__init__(outcome.reply)
        self.outcome = outcome


class Delivery:
    """The transactions of one pass on one store connection: `send` one item, `defer` one that
    cannot be sent now. `now` is the clock for backoff and history; `server` the SMTP server
    (its name goes into the reasons, its `sent_copy` says whether a Sent copy is wanted)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        account: str,
        server: ServerConfig,
        now: Clock,
        timeout: float,
    ) -> None:
        self.conn = conn
        self.account = account
        self.server = server
        self.now = now
        self.timeout = timeout

    @property
    def server_name(self) -> str:
        """The SMTP server as "host:port", for messages and the store."""
        return f"{self.server.host}:{self.server.port}"

    async def send(self, smtp: aiosmtplib.SMTP, queued: OutboxItem) -> ItemOutcome | None:
        """Send `queued` (taken from the queue first); None when it was no longer queued."""
        conn = self.conn
        item = self.take(queued.id)
        if item is None:
            return None
        size = outbox.raw_size(conn, item.id)
        where = self.server_name
        data_end = False
        try:
            env_from, env_rcpts = envelope(item)
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
            eight_bit = is_8bit(conn, item.id)
            options = ["BODY=8BITMIME"] if smtp.supports_extension("8bitmime") and eight_bit else []
            if has_utf8 and (utf8_needed or not header_block(conn, item.id, size).isascii()):
                options.append("SMTPUTF8")
            if smtp.supports_extension("size"):
                options.append(f"SIZE={size}")
            mail = await smtp.execute_command(
                b"MAIL", f"FROM:<{env_from}>".encode(), *(o.encode() for o in options)
            )
            if mail.code != 250:
                return await self._refused(smtp, item, "MAIL FROM", mail, {})
            crashpoint("smtp.after_mail")
            accepted: dict[str, str] = {}
            refused: dict[str, aiosmtplib.SMTPResponse] = {}
            for rcpt, wire_rcpt in zip(item.env_rcpts, env_rcpts, strict=True):
                reply = await smtp.execute_command(b"RCPT", f"TO:<{wire_rcpt}>".encode())
                if reply.code in (250, 251):
                    accepted[rcpt] = reply_line(reply)
                else:
                    refused[rcpt] = reply
            if not accepted:
                # All refused: the mildest refusal decides (any 4xx means "try again later").
                worst = min(refused.values(), key=lambda r: r.code)
                return await self._refused(smtp, item, "RCPT TO", worst, refused)

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
                return await self._refused(smtp, item, "DATA", answer, refused)
            finally:
                chunks.close()
            if reply.code != 250:
                return await self._refused(smtp, item, "the end of DATA", reply, refused)
            crashpoint("smtp.after_reply")
            return self._sent(item, reply, accepted, refused)
        except DataEndLost as exc:
            reason = (
                f"the connection to {where} broke after the whole message was handed over, "
                f"before the server confirmed it ({printable_line(str(exc))}); check whether "
                "it arrived before sending it again"
            )
            outbox.mark_unknown(conn, item.id, reason, now=self.now())
            raise ConnectionGone(ItemOutcome(item.id, OutboxState.UNKNOWN, reason, {})) from exc
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
            raise ConnectionGone(ItemOutcome(item.id, OutboxState.QUEUED, reason, {})) from exc
        except aiosmtplib.SMTPResponseException as exc:  # a malformed reply, before DATA's end
            smtp.close()
            reason = f"unexpected answer from {where}: {reply_text(exc.code, exc.message)}"
            outbox.defer(
                conn, item.id, reason, retry_at=self.now() + backoff(item.attempts), now=self.now()
            )
            raise ConnectionGone(ItemOutcome(item.id, OutboxState.QUEUED, reason, {})) from exc

    async def _refused(
        self,
        smtp: aiosmtplib.SMTP,
        item: OutboxItem,
        step: str,
        reply: aiosmtplib.SMTPResponse,
        refused: Mapping[str, aiosmtplib.SMTPResponse],
    ) -> ItemOutcome:
        """Record a refusal at `step` (4xx: back to the queue, 5xx: failed); reset the
        transaction so the connection can carry the next message."""
        conn = self.conn
        text = f"{step}: {reply_line(reply)}"
        details = (
            {"recipients": {r: reply_line(a) for r, a in refused.items()}} if refused else None
        )
        shown = {r: reply_line(a) for r, a in refused.items()}
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
                raise ConnectionGone(outcome) from exc
            if reset.code != 250:
                raise ConnectionGone(outcome)
        return outcome

    def _sent(
        self,
        item: OutboxItem,
        reply: aiosmtplib.SMTPResponse,
        accepted: Mapping[str, str],
        refused: Mapping[str, aiosmtplib.SMTPResponse],
    ) -> ItemOutcome:
        """Record a sent message, its refused recipients (a 4xx refusal gets an item of its own
        to try again): one transaction."""
        conn = self.conn
        text = reply_line(reply)
        details = None
        if refused:
            details = {"recipients": {**accepted, **{r: reply_line(a) for r, a in refused.items()}}}
            text += f" ({len(accepted)} of {len(item.env_rcpts)} recipients accepted)"
        later = [r for r, a in refused.items() if 400 <= a.code < 500]
        never = {r: reply_line(a) for r, a in refused.items() if a.code >= 500}
        has_original = bool(outbox_originals.originals(conn, item.id))
        flagged: set[int] = set()
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
                # Sent, so the originals are answered (or forwarded) now, not when queued.
                flagged = outbox_originals.flag_originals(conn, item.id)
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
                    reply="RCPT TO: " + "; ".join(f"{r}: {reply_line(refused[r])}" for r in later),
                    now=self.now(),
                )
        return ItemOutcome(
            item.id,
            OutboxState.SENT,
            text,
            {r: reply_line(a) for r, a in refused.items()},
            frozenset(flagged),
        )

    def take(self, item_id: int) -> OutboxItem | None:
        """queued → sending, or None when the item was cancelled (or taken back as a draft, or
        retried into another state) since the pass listed what is due: the pass goes on with
        the others instead of failing."""
        try:
            return outbox.begin_sending(self.conn, item_id, now=self.now())
        except (outbox.ItemGone, outbox.IllegalTransition) as exc:
            log.info("%s: outbox item %d skipped: %s", self.account, item_id, exc)
            return None

    def defer(
        self, item_id: int, reason: str, *, temporary: bool, unreachable: bool = False
    ) -> ItemOutcome | None:
        """Back to the queue without a try (the connection failed): after a backoff when
        `temporary`, else at once; None when the item was no longer queued. `unreachable`: the
        server could not be reached, so the backoff may be cut short when it answers again."""
        item = self.take(item_id)
        if item is None:
            return None
        retry_at = self.now() + backoff(item.attempts) if temporary else self.now()
        outbox.defer(
            self.conn, item_id, reason, retry_at=retry_at, now=self.now(), unreachable=unreachable
        )
        return ItemOutcome(item_id, OutboxState.QUEUED, reason, {})


def envelope(item: OutboxItem) -> tuple[str, tuple[str, ...]]:
    """MAIL FROM and RCPT TO addresses of `item` with their domains as IDNA A-labels (an item
    queued before they were converted is converted here)."""
    return envelope_address(item.env_from), tuple(envelope_address(r) for r in item.env_rcpts)


def is_8bit(conn: sqlite3.Connection, item_id: int) -> bool:
    """Whether the message of `item_id` has any byte outside ASCII."""
    with contextlib.closing(outbox.raw_chunks(conn, item_id)) as chunks:
        return not all(chunk.isascii() for chunk in chunks)


def header_block(conn: sqlite3.Connection, item_id: int, size: int) -> bytes:
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


def reply_line(reply: aiosmtplib.SMTPResponse) -> str:
    """`reply` as one printable line (see `reply_text`)."""
    return reply_text(reply.code, reply.message)


def reply_text(code: int, message: str) -> str:
    """A server reply as one printable line (it is untrusted and goes to the outbox view)."""
    return printable_line(f"{code} {message}", 500)
