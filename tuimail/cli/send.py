"""`tuimail send` and `tuimail outbox`: queue RFC 5322 messages and deliver the outbox headless.

`send` turns each file (or standard input) into an outbox item: line ends become CRLF, a missing
From (the account's address), Date and Message-ID are added (a From naming one of the account's
identities is the envelope sender), the recipients come from To, Cc and
Bcc, and the Bcc field is removed from the bytes that are sent (the Sent copy names them again).
The item is committed before any network activity; then, unless `--queue-only`, the command
waits out the grace period (`undo_send_seconds`; Ctrl-C cancels, `--now` skips it) and sends.

`outbox list` shows every item that is not sent and done; `outbox flush` sends everything due
of every account with SMTP and says what is still held and why; `retry`, `cancel` and `confirm`
settle failed and unknown items by hand.

Exit status: 0 went well, 1 something failed (a message refused, a state unknown, a server
unreachable), 2 bad usage (nothing was queued or sent), 130 interrupted.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import email.utils
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from tuimail.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from tuimail.config.schema import AccountConfig, Config, ServerConfig
from tuimail.core import paths
from tuimail.mail.compose import ComposeError, make_message_id
from tuimail.mail.idn import (
    AddressEncodingError,
    envelope_address,
    needs_smtputf8,
    smtputf8_refusal,
)
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import outbox, outbox_refusals, read, write
from tuimail.store.db import StoreConnection, StoreError, open_store
from tuimail.store.outbox import IllegalTransition, OutboxItem, OutboxState
from tuimail.sync.events import SaidByCaller

if TYPE_CHECKING:
    from tuimail.sync.smtp.flush import SendResult

Clock = Callable[[], datetime]
_LINE_END = re.compile(rb"\r\n|\r|\n")
_FIELD_NAME = re.compile(rb"^[!-9;-~]+:")
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class SendUsageError(Exception):
    """The command cannot start: a bad message, an unknown account. Nothing was queued."""


@dataclass(frozen=True, slots=True)
class PreparedMessage:
    """A message ready for the outbox: the bytes to send and its SMTP envelope."""

    raw: bytes
    message_id: str  # without angle brackets, as the outbox keeps it
    env_from: str
    env_rcpts: tuple[str, ...]


def prepare_message(data: bytes, account: AccountConfig, *, now: datetime) -> PreparedMessage:
    """Make `data` (an RFC 5322 message, any line ends) ready to queue for `account`.

    Raises SendUsageError when it is not a message or names no recipient.
    """
    data = _LINE_END.sub(b"\r\n", data)
    if data.startswith(b"\r\n"):
        raise SendUsageError("the message has no header (it starts with an empty line)")
    split = data.find(b"\r\n\r\n")
    if split < 0:
        header_block, body = (data if data.endswith(b"\r\n") else data + b"\r\n"), b""
    else:
        header_block, body = data[: split + 2], data[split + 2 :]
    fields = _header_fields(header_block)
    # Header text is UTF-8 (RFC 6532): an address may have non-ASCII characters. Read as
    # bytes, the parser would turn each of them into U+FFFD in the envelope.
    try:
        header_text = header_block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SendUsageError(
            f"the header is not UTF-8 text (byte {exc.start}); write non-ASCII text in UTF-8"
        ) from None
    headers = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(header_text + "\r\n")
    recipients = _addresses(headers, ("to", "cc", "bcc"))
    if not recipients:
        raise SendUsageError("the message names no recipient (To, Cc or Bcc)")
    try:
        # The envelope has the domains' ASCII form (IDNA A-labels).
        env_from = envelope_address(_sender_address(headers, account))
        env_rcpts = tuple(envelope_address(r) for r in recipients)
    except AddressEncodingError as exc:
        raise SendUsageError(str(exc)) from None
    added: list[bytes] = []
    if headers.get("from") is None:
        sender = email.utils.formataddr((account.display_name, env_from), "utf-8")
        added.append(f"From: {sender}\r\n".encode())  # UTF-8 only for a non-ASCII local part
    if headers.get("date") is None:
        added.append(f"Date: {email.utils.format_datetime(now.astimezone())}\r\n".encode("ascii"))
    message_id = _message_id(str(headers.get("message-id") or ""))
    if not message_id:
        try:
            fresh = make_message_id(account.address.rpartition("@")[2])
        except ComposeError as exc:
            raise SendUsageError(str(exc)) from exc
        added.append(f"Message-ID: {fresh}\r\n".encode("ascii"))
        message_id = fresh[1:-1]
    kept = b"".join(lines for name, lines in fields if name.lower() != b"bcc")
    return PreparedMessage(
        raw=b"".join(added) + kept + body,
        message_id=message_id,
        env_from=env_from,
        env_rcpts=env_rcpts,
    )


def _sender_address(headers: email.message.Message, account: AccountConfig) -> str:
    """The envelope sender: the message's From when it is one of the account's identities
    (any case; written as configured), else the account's address."""
    written = email.utils.getaddresses([str(headers.get("from") or "")])
    mine = {identity.address.lower(): identity.address for identity in account.all_identities()}
    if written and written[0][1].strip().lower() in mine:
        return mine[written[0][1].strip().lower()]
    return account.address


def _header_fields(block: bytes) -> list[tuple[bytes, bytes]]:
    """The header block as (field name, its lines with continuations), in order."""
    fields: list[tuple[bytes, bytes]] = []
    for number, line in enumerate(block.split(b"\r\n")[:-1], 1):
        if line[:1] in (b" ", b"\t") and fields:
            name, lines = fields[-1]
            fields[-1] = (name, lines + line + b"\r\n")
        elif _FIELD_NAME.match(line):
            fields.append((line.partition(b":")[0].strip(), line + b"\r\n"))
        elif number == 1 and line.startswith(b"From "):
            continue  # an mbox "From " line, not part of the message
        else:
            raise SendUsageError(f"line {number} of the header is not a header field")
    return fields


def _addresses(headers: email.message.Message, names: Sequence[str]) -> list[str]:
    values = [str(v) for name in names for v in headers.get_all(name, [])]
    seen: dict[str, str] = {}
    for _, address in email.utils.getaddresses(values):
        address = address.strip()
        if not address:
            continue
        if "@" not in address or any(c.isspace() or c in "<>" for c in address):
            raise SendUsageError(f"{sanitize_line(address)!r} is not an e-mail address")
        seen.setdefault(address.lower(), address)
    return list(seen.values())


def _message_id(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and ">" in value:
        value = value[1 : value.index(">")]
    return value if value and not any(c.isspace() for c in value) else ""


# --- accounts -------------------------------------------------------------------------------


def smtp_account(config: Config, name: str | None) -> AccountConfig:
    """The account to send from: the one named, else the only one with SMTP."""
    with_smtp = [a for a in config.accounts.values() if a.smtp is not None]
    if name is not None:
        account = config.accounts.get(name)
        if account is None:
            known = ", ".join(a.name for a in with_smtp) or "none"
            raise SendUsageError(f"no account {name!r} in the config (accounts with SMTP: {known})")
        if account.smtp is None:
            raise SendUsageError(f"account {name!r} has no [smtp] server configured")
        return account
    if len(with_smtp) == 1:
        return with_smtp[0]
    if not with_smtp:
        raise SendUsageError("no account has an [smtp] server configured")
    names = ", ".join(a.name for a in with_smtp)
    raise SendUsageError(f"several accounts can send ({names}): choose one with --account")


def _store_account_id(conn: StoreConnection, account: AccountConfig) -> int:
    incoming = account.incoming
    return write.ensure_account(conn, account.name, incoming.protocol if incoming else None)


# --- tuimail send ---------------------------------------------------------------------------


def send_command(
    config: Config,
    data_dir: Path,
    *,
    account_name: str | None,
    files: Sequence[str],
    now_flag: bool,
    queue_only: bool,
    stdin: BinaryIO,
    out: TextIO,
    err: TextIO,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Queue one message per file (or one from `stdin`), then send them; the exit status."""
    clock = clock or (lambda: datetime.now(UTC))
    try:
        account = smtp_account(config, account_name)
        prepared = [
            prepare_message(_read_input(path, stdin), account, now=clock())
            for path in (files or ["-"])
        ]
    except SendUsageError as exc:
        print(f"tuimail send: {exc}", file=err)
        return EXIT_USAGE
    assert account.smtp is not None
    grace = 0 if now_flag else account.smtp.undo_send_seconds
    conn = open_store(data_dir)
    try:
        account_id = _store_account_id(conn, account)
        if refusal := _utf8_refusal(conn, account_id, account.smtp, prepared):
            print(f"tuimail send: not queued: {refusal}", file=err)
            return EXIT_USAGE
        not_before = clock() + timedelta(seconds=grace)
        ids = [
            outbox.enqueue(
                conn,
                account_id,
                message.raw,
                message_id=message.message_id,
                env_from=message.env_from,
                env_rcpts=message.env_rcpts,
                not_before=not_before,
                now=clock(),
            )
            for message in prepared
        ]
    finally:
        conn.close()
    for item_id, message in zip(ids, prepared, strict=True):
        print(f"queued #{item_id} <{sanitize_line(message.message_id)}>", file=out)
    if queue_only:
        return EXIT_OK
    if grace:
        try:
            print(f"sending in {grace} s; Ctrl-C to cancel", file=err)
            sleep(grace)
        except KeyboardInterrupt:
            return _cancel_queued(data_dir, ids, err)
    results = _send_accounts(config, data_dir, [account], out, err, clock=clock, only=ids)
    return EXIT_FAILED if any(results) else EXIT_OK


def _utf8_refusal(
    conn: StoreConnection,
    account_id: int,
    server: ServerConfig,
    prepared: Sequence[PreparedMessage],
) -> str | None:
    """Why the messages cannot be queued, when one needs SMTPUTF8 and the account's server did
    not offer it at the last connection (unknown: they are queued, and the sender decides)."""
    needed = list(
        dict.fromkeys(
            address
            for message in prepared
            for address in (message.env_from, *message.env_rcpts)
            if needs_smtputf8(address)
        )
    )
    where = f"{server.host}:{server.port}"
    if not needed or read.smtp_utf8(conn, account_id, where) is not False:
        return None
    return (
        f"{sanitize_line(smtputf8_refusal(needed, where))} (as of the last connection); use an "
        "ASCII address for it, or send from an account whose server offers SMTPUTF8"
    )


def _read_input(path: str, stdin: BinaryIO) -> bytes:
    if path == "-":
        return stdin.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SendUsageError(f"cannot read {path!r}: {exc.strerror or exc}") from exc


def _cancel_queued(data_dir: Path, ids: Sequence[int], err: TextIO) -> int:
    conn = open_store(data_dir)
    try:
        for item_id in ids:
            try:
                outbox.cancel(conn, item_id)
            except StoreError as exc:
                print(f"tuimail send: #{item_id}: {exc}", file=err)
    finally:
        conn.close()
    print("tuimail send: cancelled; nothing was sent", file=err)
    return EXIT_INTERRUPTED


def _send_accounts(
    config: Config,
    data_dir: Path,
    accounts: Sequence[AccountConfig],
    out: TextIO,
    err: TextIO,
    *,
    clock: Clock,
    only: Sequence[int] | None = None,
) -> list[bool]:
    """Run one sending pass per account in a worker thread; one flag per account: failed?"""
    # The events are not drawn: the results are printed below, one line per item that matters.
    from tuimail.sync.smtp.flush import OutboxSender

    results: list[SendResult] = []
    cancel = threading.Event()

    def work() -> None:
        for account in accounts:
            if cancel.is_set():
                break
            sender = OutboxSender(
                account,
                data_dir,
                emit=SaidByCaller(),
                cancel=cancel,
                now=clock,
                only=only,
                lock_timeout=30,
            )
            results.append(sender.run())

    worker = threading.Thread(target=work, name="tuimail-send")
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        print("tuimail: stopping after the current message…", file=err)
        worker.join()
        raise
    for result in results:
        _print_result(result, out, err)
    failed = [result.failed for result in results]
    failed += [True] * (len(accounts) - len(results))  # a worker that died of a bug
    return failed


def _print_result(result: SendResult, out: TextIO, err: TextIO) -> None:
    name = result.account
    for outcome in result.outcomes:
        if outcome.state is OutboxState.SENT and not outcome.refused:
            continue
        print(
            f"{name}: #{outcome.item_id} {outcome.state.value}: {sanitize_line(outcome.reply)}",
            file=err,
        )
        for rcpt, reply in outcome.refused.items():
            print(f"  refused {sanitize_line(rcpt)}: {sanitize_line(reply)}", file=err)
    for item_id in result.recovered_unknown:
        print(
            f"{name}: #{item_id} unknown: an earlier run stopped after handing the message over; "
            "check whether it arrived, then `tuimail outbox confirm` or `retry` it",
            file=err,
        )
    if result.error is not None:
        print(f"{name}: SMTP failed: {sanitize_line(result.error)}", file=err)
    print(f"{name}: {result.summary()}", file=out)


# --- tuimail outbox -------------------------------------------------------------------------


def outbox_command(
    config: Config,
    data_dir: Path,
    action: str,
    *,
    item_id: int | None = None,
    accounts: Sequence[str] = (),
    show_all: bool = False,
    out: TextIO,
    err: TextIO,
    clock: Clock | None = None,
) -> int:
    """`tuimail outbox list | flush | retry ID | cancel ID | confirm ID`; the exit status."""
    clock = clock or (lambda: datetime.now(UTC))
    if action == "flush":
        return _flush(config, data_dir, accounts, out, err, clock)
    conn = open_store(data_dir)
    try:
        if action == "list":
            _print_items(conn, outbox.items(conn), out, now=clock(), show_all=show_all)
            return EXIT_OK
        assert item_id is not None
        item = outbox.get(conn, item_id)
        if item is None:
            print(f"tuimail outbox: there is no outbox item #{item_id}", file=err)
            return EXIT_USAGE
        try:
            if action == "retry":
                outbox.retry(conn, item_id, now=clock())
                print(f"#{item_id} queued again; `tuimail outbox flush` sends it", file=out)
            elif action == "cancel":
                outbox.cancel(conn, item_id)
                print(f"#{item_id} removed from the outbox; it will not be sent", file=out)
            elif action == "confirm":
                outbox.confirm_sent(conn, item_id, "the user confirmed it arrived", now=clock())
                print(f"#{item_id} marked as sent", file=out)
            elif action == "dismiss":
                if not outbox_refusals.refusals(conn, item_id):
                    print(f"tuimail outbox: #{item_id} has no refused recipients", file=err)
                    return EXIT_USAGE
                outbox_refusals.dismiss_refusals(conn, item_id)
                print(f"#{item_id}: its refused recipients are no longer listed", file=out)
            else:
                raise ValueError(f"unknown outbox action {action!r}")
        except IllegalTransition as exc:
            print(f"tuimail outbox: {exc}", file=err)
            return EXIT_USAGE
        return EXIT_OK
    finally:
        conn.close()


def _flush(
    config: Config,
    data_dir: Path,
    names: Sequence[str],
    out: TextIO,
    err: TextIO,
    clock: Clock,
) -> int:
    try:
        chosen = (
            [smtp_account(config, name) for name in dict.fromkeys(names)]
            if names
            else [a for a in config.accounts.values() if a.smtp is not None]
        )
    except SendUsageError as exc:
        print(f"tuimail outbox: {exc}", file=err)
        return EXIT_USAGE
    if not chosen:
        print("tuimail outbox: no account has an [smtp] server configured", file=err)
        return EXIT_USAGE
    failed = _send_accounts(config, data_dir, chosen, out, err, clock=clock)
    conn = open_store(data_dir)
    try:
        ids = {read.account_id(conn, a.name) for a in chosen}
        held = [
            item
            for item in outbox.items(
                conn, states=(OutboxState.QUEUED, OutboxState.FAILED, OutboxState.UNKNOWN)
            )
            if item.account_id in ids
        ]
        names_by_id = {a.id: a.name for a in read.accounts(conn)}
        now = clock()
        for item in held:
            print(
                f"{names_by_id.get(item.account_id, '?')}: #{item.id} {held_reason(item, now)}",
                file=out,
            )
            if item.state is OutboxState.QUEUED and item.attempts and item.last_reply:
                print(f"    last reply: {sanitize_line(item.last_reply)}", file=out)
    finally:
        conn.close()
    return EXIT_FAILED if any(failed) else EXIT_OK


def held_reason(item: OutboxItem, now: datetime) -> str:
    """Why an item is still in the outbox, in words."""
    if item.state is OutboxState.FAILED:
        return "failed: retry or cancel it"
    if item.state is OutboxState.UNKNOWN:
        return "unknown: check whether it arrived, then confirm, retry or cancel it"
    when = _local(item.next_attempt)
    if item.next_attempt <= now:
        return "due: sent by the next flush"
    if item.attempts:
        tried = f"{item.attempts} attempt{'s' if item.attempts != 1 else ''}"
        return (
            f"waiting to try again after a temporary refusal or failure ({tried} so far): "
            f"next attempt {when}"
        )
    if item.scheduled_at is not None and item.scheduled_at >= item.next_attempt:
        return f"scheduled for {when}"
    return f"waiting for the undo-send grace period: sent from {when}"


def _print_items(
    conn: StoreConnection,
    items: Sequence[OutboxItem],
    out: TextIO,
    *,
    now: datetime,
    show_all: bool,
) -> None:
    names = {a.id: a.name for a in read.accounts(conn)}
    refused = {i.id for i in outbox_refusals.with_refusals(conn)}  # listed until dismissed
    shown = [
        i
        for i in items
        if show_all or i.id in refused or not (i.state is OutboxState.SENT and i.sent_copy_done)
    ]
    if not shown:
        print("The outbox is empty.", file=out)
        return
    for item in shown:
        subject = _subject(outbox.raw_head(conn, item.id))  # not a large message whole
        recipients = sanitize_line(", ".join(item.env_rcpts))
        print(
            f"#{item.id} {names.get(item.account_id, '?')} {item.state.value}"
            f" tries={item.attempts} to {recipients}: {sanitize_line(subject)}",
            file=out,
        )
        if item.state is OutboxState.QUEUED:
            print(f"    {held_reason(item, now)}", file=out)
        elif item.state is OutboxState.SENT and not item.sent_copy_done:
            print("    sent; the copy for the Sent folder is still to be made", file=out)
        if item.last_reply:
            print(f"    last reply: {sanitize_line(item.last_reply)}", file=out)
        if item.id in refused:
            print(f"    refused (`tuimail outbox dismiss {item.id}` once seen):", file=out)
            for recipient, reply in outbox_refusals.refusals(conn, item.id).items():
                print(f"      {sanitize_line(recipient)}: {sanitize_line(reply)}", file=out)


def _subject(raw: bytes) -> str:
    end = raw.find(b"\r\n\r\n")
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        raw[: end + 2 if end >= 0 else len(raw)] + b"\r\n"
    )
    value = headers.get("subject")
    if value is None:
        return "(no subject)"
    try:
        return str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):
        return str(value)


def _local(when: datetime) -> str:
    return when.astimezone().strftime(_DATE_FORMAT)


def cmd_send(args: argparse.Namespace, config: Config) -> int:
    """Queue messages and send them."""
    return send_command(
        config,
        paths.data_dir(args.data_dir),
        account_name=args.account,
        files=args.files,
        now_flag=args.now,
        queue_only=args.queue_only,
        stdin=sys.stdin.buffer,
        out=sys.stdout,
        err=sys.stderr,
    )


def cmd_outbox(args: argparse.Namespace, config: Config) -> int:
    """List, flush, retry, cancel or confirm outbox items."""
    return outbox_command(
        config,
        paths.data_dir(args.data_dir),
        args.outbox_command,
        item_id=getattr(args, "id", None),
        accounts=getattr(args, "accounts", ()),
        show_all=args.show_all,
        out=sys.stdout,
        err=sys.stderr,
    )
