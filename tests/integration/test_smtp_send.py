"""Sending through the real Postfix into the real Dovecot: end to end, refusals, a lost reply.

Messages go tuimail → Postfix submission (STARTTLS + AUTH) → Dovecot over LMTP, and the Sent copy
goes to the sender's IMAP Sent folder; counts are read from Dovecot after Postfix's queue is
empty, so a late duplicate cannot slip by.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.proxy import Faults
from tests.support.smtp_send import imap_copies, items, message, settle, write_config
from tuimail.cli.main import main
from tuimail.cli.send import outbox_command, send_command
from tuimail.config.load import load_config
from tuimail.core.model import SEEN
from tuimail.store import outbox, outbox_history, read
from tuimail.store.db import open_store
from tuimail.store.outbox import OutboxState

pytestmark = pytest.mark.integration


def history(data_dir: Path, item_id: int) -> list[outbox_history.HistoryEntry]:
    conn = open_store(data_dir)
    try:
        return outbox_history.history(conn, item_id)
    finally:
        conn.close()


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def test_send_delivers_once_keeps_bcc_out_and_files_one_sent_copy(
    mail_servers: MailServers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sender, to, hidden = (mail_servers.add_user(p) for p in ("sender", "to", "hidden"))
    config = write_config(mail_servers, sender, tmp_path / "config.toml")
    data = tmp_path / "data"
    eml = tmp_path / "m.eml"
    eml.write_bytes(
        message(
            [mail_servers.address(to)], subject="end to end", bcc=[mail_servers.address(hidden)]
        )
    )
    common = ["--config", str(config), "--data-dir", str(data)]

    assert main([*common, "send", "--now", str(eml)]) == 0
    out = capsys.readouterr().out
    assert "1 sent" in out

    [item] = items(data)
    assert item.state is OutboxState.SENT and item.sent_copy_done
    assert set(item.env_rcpts) == {mail_servers.address(to), mail_servers.address(hidden)}
    mail_servers.wait_for_message(to, item.message_id)
    mail_servers.wait_for_message(hidden, item.message_id)
    settle(mail_servers)
    [delivered] = imap_copies(mail_servers, to, item.message_id, "INBOX")
    [blind] = imap_copies(mail_servers, hidden, item.message_id, "INBOX")
    for copy in (delivered, blind):
        assert b"\nBcc:" not in copy["raw"] and b"hidden" not in copy["raw"].split(b"\r\n\r\n")[0]
        assert b"\r\n..a line" not in copy["raw"]  # dot-stuffing undone by the server
        assert b"\r\n.a line starting with a dot\r\n" in copy["raw"]
    assert f"From: Sender {sender} <{mail_servers.address(sender)}>".encode() in delivered["raw"]
    [sent] = imap_copies(mail_servers, sender, item.message_id, "Sent")
    assert SEEN.encode() in sent["flags"]
    assert f"Bcc: {mail_servers.address(hidden)}".encode() in sent["raw"]

    # tuimail sync sees the Sent copy; a second flush sends and copies nothing more.
    assert main([*common, "sync", "home"]) == 0
    conn = open_store(data)
    try:
        account_id = read.account_id(conn, "home")
        assert account_id is not None
        [stored] = read.ids_by_message_id(conn, account_id, item.message_id)
        assert read.row(conn, stored).envelope.subject == "end to end"
    finally:
        conn.close()
    assert main([*common, "outbox", "flush"]) == 0
    settle(mail_servers)
    assert len(imap_copies(mail_servers, to, item.message_id, "INBOX")) == 1
    assert len(imap_copies(mail_servers, sender, item.message_id, "Sent")) == 1


def test_many_messages_share_one_connection_and_a_local_sent_folder(
    mail_servers: MailServers, tmp_path: Path, fault_proxy
) -> None:
    sender, to = mail_servers.add_user("sender"), mail_servers.add_user("to")
    proxy = fault_proxy(mail_servers.host, mail_servers.smtps_port)
    config = write_config(
        mail_servers,
        sender,
        tmp_path / "config.toml",
        imap=False,
        smtp_host="localhost",
        smtp_port=proxy.port,
        security="tls",
    )
    data = tmp_path / "data"
    files = []
    for index in range(5):
        path = tmp_path / f"m{index}.eml"
        path.write_bytes(message([mail_servers.address(to)], subject=f"batch {index}"))
        files.append(str(path))
    common = ["--config", str(config), "--data-dir", str(data)]
    assert main([*common, "send", "--now", "--queue-only", *files]) == 0
    assert all(item.state is OutboxState.QUEUED for item in items(data))
    assert main([*common, "outbox", "flush"]) == 0

    assert len(proxy.connections) == 1
    sent = items(data)
    assert [item.state for item in sent] == [OutboxState.SENT] * 5
    settle(mail_servers)
    conn = open_store(data)
    try:
        account_id = read.account_id(conn, "home")
        assert account_id is not None
        [sent_folder] = [f for f in read.folders(conn, account_id) if f.role.value == "sent"]
        assert sent_folder.total == 5
        for item in sent:
            assert len(imap_copies(mail_servers, to, item.message_id, "INBOX")) == 1
            assert len(read.ids_by_message_id(conn, account_id, item.message_id)) == 1
    finally:
        conn.close()


def test_refusals_per_recipient_temporary_then_accepted_permanent_failed(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    assert mail_servers.postfix is not None
    sender, ok, busy, gone = (mail_servers.add_user(p) for p in ("sender", "ok", "busy", "gone"))
    mail_servers.postfix.set_recipient_access(
        {
            mail_servers.address(busy): "450 4.2.1 Mailbox busy, try again later",
            mail_servers.address(gone): "550 5.1.1 No such user here",
        }
    )
    config_path = write_config(mail_servers, sender, tmp_path / "config.toml")
    config = load_config(config_path, must_exist=True)
    data = tmp_path / "data"
    clock = Clock()
    out, err = io.StringIO(), io.StringIO()

    def send(to: list[str], subject: str) -> int:
        raw = message([mail_servers.address(u) for u in to], subject=subject)
        return send_command(
            config,
            data,
            account_name=None,
            files=[],
            now_flag=True,
            queue_only=True,
            stdin=io.BytesIO(raw),
            out=out,
            err=err,
            clock=clock,
        )

    assert send([ok, busy, gone], "partly refused") == 0
    assert send([gone], "refused") == 0
    assert send([busy], "busy") == 0
    assert outbox_command(config, data, "flush", out=out, err=err, clock=clock) == 1
    partial, refused, deferred, retry_busy = items(data)
    # Partly refused: sent to the one accepted recipient; each recipient's reply recorded; the
    # temporarily refused one gets an item of its own, the permanently refused one is reported.
    assert partial.state is OutboxState.SENT
    details = history(data, partial.id)[-1].details["recipients"]
    assert details[mail_servers.address(ok)].startswith("250")
    assert details[mail_servers.address(busy)].startswith("450 4.2.1")
    assert details[mail_servers.address(gone)].startswith("550 5.1.1")
    assert details[mail_servers.address(gone)].endswith("No such user here")
    assert retry_busy.env_rcpts == (mail_servers.address(busy),)
    assert retry_busy.message_id == partial.message_id
    assert retry_busy.state is OutboxState.QUEUED and retry_busy.next_attempt > clock.now
    # Permanently refused: failed, with the server's text.
    assert refused.state is OutboxState.FAILED
    assert (refused.last_reply or "").startswith("RCPT TO: 550 5.1.1")
    assert (refused.last_reply or "").endswith("No such user here")
    # Temporarily refused: back in the queue with a backoff, the reply visible.
    assert deferred.state is OutboxState.QUEUED and deferred.attempts == 1
    assert deferred.next_attempt == clock.now + timedelta(minutes=1)
    assert "450 4.2.1" in (deferred.last_reply or "")
    listing = io.StringIO()
    assert outbox_command(config, data, "list", out=listing, err=err, clock=clock) == 0
    assert "No such user here" in listing.getvalue()
    assert "try again after a temporary refusal or failure (1 attempt so far)" in (
        listing.getvalue()
    )
    assert f"{mail_servers.address(gone)}: 550" in err.getvalue()
    # The retry item for the busy recipient says what it waits for, with the server's reply.
    assert retry_busy.attempts == 1 and "450 4.2.1" in (retry_busy.last_reply or "")
    assert "grace period" not in listing.getvalue()
    # The partly refused message stays listed (without --all), naming whom it did not reach.
    blocks = listing.getvalue().split("\n#")
    (partial_block,) = [b for b in blocks if b.lstrip("#").startswith(f"{partial.id} ")]
    assert f"{mail_servers.address(gone)}: 550 5.1.1" in partial_block
    assert f"tuimail outbox dismiss {partial.id}" in partial_block
    assert outbox_command(config, data, "dismiss", item_id=partial.id, out=out, err=err) == 0
    listing = io.StringIO()
    assert outbox_command(config, data, "list", out=listing, err=err, clock=clock) == 0
    assert f"#{partial.id} " not in listing.getvalue()

    # The mailbox is free again; before the backoff is over nothing is sent, then it is.
    mail_servers.postfix.set_recipient_access({})
    assert outbox_command(config, data, "flush", out=out, err=err, clock=clock) == 0
    assert items(data)[2].state is OutboxState.QUEUED
    clock.advance(timedelta(minutes=2))
    _flush_until_accepted(config, data, clock)
    settle(mail_servers)
    assert len(imap_copies(mail_servers, ok, partial.message_id, "INBOX")) == 1
    assert len(imap_copies(mail_servers, busy, partial.message_id, "INBOX")) == 1
    assert len(imap_copies(mail_servers, busy, deferred.message_id, "INBOX")) == 1
    assert imap_copies(mail_servers, gone, partial.message_id, "INBOX") == []
    assert len(imap_copies(mail_servers, sender, partial.message_id, "Sent")) == 1


def _flush_until_accepted(config, data: Path, clock: Clock) -> None:
    """Flush; an smtpd process started before the reload may still refuse once (then back off)."""
    for _ in range(5):
        outbox_command(config, data, "flush", out=io.StringIO(), err=io.StringIO(), clock=clock)
        if not [i for i in items(data) if i.state is OutboxState.QUEUED]:
            return
        clock.advance(timedelta(hours=2))
    raise AssertionError(f"still queued: {items(data)}")


def test_connection_cut_after_the_final_dot_leaves_unknown(
    mail_servers: MailServers, tmp_path: Path, fault_proxy
) -> None:
    sender, to = mail_servers.add_user("sender"), mail_servers.add_user("to")
    proxy = fault_proxy(mail_servers.plain_host, mail_servers.submission_port)
    config_path = write_config(
        mail_servers,
        sender,
        tmp_path / "config.toml",
        smtp_host="127.0.0.1",
        smtp_port=proxy.port,
        security="none",
    )
    config = load_config(config_path, must_exist=True)
    data = tmp_path / "data"
    clock = Clock()
    out, err = io.StringIO(), io.StringIO()

    def queue(subject: str) -> None:
        raw = message([mail_servers.address(to)], subject=subject)
        send_command(
            config,
            data,
            account_name=None,
            files=[],
            now_flag=True,
            queue_only=True,
            stdin=io.BytesIO(raw),
            out=out,
            err=err,
            clock=clock,
        )

    # Learn how many bytes the server sends up to its "354" (greeting, EHLO, AUTH, MAIL, RCPT
    # replies) from one message sent through the proxy without faults.
    queue("first")
    assert outbox_command(config, data, "flush", out=out, err=err, clock=clock) == 0
    replies = proxy.connections[0].from_server
    upto_354 = replies.index(b"\r\n", replies.index(b"354 ")) + 2
    # The second message: the connection is cut after the first byte of the server's reply to
    # the final ".", so the message is delivered and the client never learns it.
    queue("second")
    proxy.server = Faults(close_after=upto_354 + 1)
    assert outbox_command(config, data, "flush", out=out, err=err, clock=clock) == 1
    first, second = items(data)
    assert first.state is OutboxState.SENT
    assert second.state is OutboxState.UNKNOWN
    assert "broke after the whole message was handed over" in (second.last_reply or "")
    # Nothing resends it by itself.
    proxy.server = Faults()
    assert outbox_command(config, data, "flush", out=out, err=err, clock=clock) == 0
    mail_servers.wait_for_message(to, second.message_id)
    settle(mail_servers)
    assert len(imap_copies(mail_servers, to, second.message_id, "INBOX")) == 1
    listing = io.StringIO()
    outbox_command(config, data, "list", out=listing, err=err, clock=clock)
    assert f"#{second.id} home unknown" in listing.getvalue()
    # The user checked: confirm; the Sent copy follows with the next flush, once.
    assert outbox_command(config, data, "confirm", item_id=second.id, out=out, err=err) == 0
    assert outbox_command(config, data, "flush", out=out, err=err, clock=clock) == 0
    assert items(data)[1].sent_copy_done
    assert len(imap_copies(mail_servers, sender, second.message_id, "Sent")) == 1


def test_a_message_cancelled_during_a_flush_is_skipped_and_the_rest_are_sent(
    mail_servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tuimail outbox cancel ID` while a flush runs: the flush leaves that one out and goes on."""
    sender, to = mail_servers.add_user("sender"), mail_servers.add_user("to")
    config = write_config(mail_servers, sender, tmp_path / "config.toml", imap=False)
    data = tmp_path / "data"
    files = []
    for index in range(4):
        path = tmp_path / f"m{index}.eml"
        path.write_bytes(message([mail_servers.address(to)], subject=f"cancel {index}"))
        files.append(str(path))
    common = ["--config", str(config), "--data-dir", str(data)]
    assert main([*common, "send", "--now", "--queue-only", *files]) == 0
    queued = items(data)
    cancelled = queued[-1].id
    real_mark_sent = outbox.mark_sent
    cancels: list[int] = []

    def mark_sent_then_cancel(*args, **kwargs):
        real_mark_sent(*args, **kwargs)
        if not cancels:  # the user cancels the last message while the first is being sent
            cancels.append(main([*common, "outbox", "cancel", str(cancelled)]))

    monkeypatch.setattr(outbox, "mark_sent", mark_sent_then_cancel)
    assert main([*common, "outbox", "flush"]) == 0
    assert cancels == [0]
    left = items(data)
    assert [item.id for item in left] == [item.id for item in queued[:-1]]
    assert [item.state for item in left] == [OutboxState.SENT] * 3
    settle(mail_servers)
    for item in queued:
        copies = imap_copies(mail_servers, to, item.message_id, "INBOX")
        assert len(copies) == (0 if item.id == cancelled else 1)
