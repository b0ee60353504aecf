"""A large attachment through the whole sending path in bounded memory, and the streamed APPEND.

The memory test runs each step as its own process (compose + enqueue, then `tuimail outbox
flush` with DATA to Postfix and the Sent APPEND to Dovecot) and reads that process's peak RSS
from the kernel; the bound is the issue's "within about 4x the attachment's size", above an
idle flush measured the same way, with a margin for SQLite's page cache and buffers.
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import os
import ssl
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import imapclient
import imapclient.exceptions
import pytest

from tests.support.mailservers import MailServers
from tests.support.smtp_send import items, settle, write_config
from tuimail.sync.imap.extensions import append_streamed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20
ATTACHMENT = 50 * MIB
MARGIN = 48 * MIB  # SQLite's page cache (16 MiB), socket and TLS buffers, a few chunks

ENQUEUE = """
import sys
from tuimail.mail.compose import compose_message
from tuimail.core.model import Address, Draft, Protocol
from tuimail.store import outbox, write
from tuimail.store.db import open_store

data, attachment, sender, to = sys.argv[1:5]
conn = open_store(data)
account = write.ensure_account(conn, "home", Protocol.IMAP)
draft = Draft(
    from_=Address("", sender), to=(Address("", to),), subject="large", body="attached",
    attachments=(attachment,),
)
message = compose_message(draft, message_id="<large-attachment@tuimail.test>")
outbox.enqueue(
    conn, account, message, message_id="large-attachment@tuimail.test", env_from=sender,
    env_rcpts=[to],
)
"""


def test_a_50_mb_attachment_is_sent_and_copied_within_4x_its_size(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    sender, to = mail_servers.add_user("sender"), mail_servers.add_user("to")
    config = write_config(mail_servers, sender, tmp_path / "config.toml")
    data = tmp_path / "data"
    attachment = tmp_path / "large.bin"
    digest = hashlib.sha256()
    with attachment.open("wb") as handle:
        for _ in range(ATTACHMENT // MIB):
            block = os.urandom(MIB)
            digest.update(block)
            handle.write(block)
    tuimail = [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data)]

    idle = run_measured([*tuimail, "outbox", "flush"])  # the same imports, nothing to send
    enqueue = run_measured(
        [
            sys.executable,
            "-c",
            ENQUEUE,
            str(data),
            str(attachment),
            mail_servers.address(sender),
            mail_servers.address(to),
        ]
    )
    flush = run_measured([*tuimail, "outbox", "flush"])

    bound = idle + 4 * ATTACHMENT + MARGIN
    assert enqueue <= bound, f"compose + enqueue peaked at {enqueue / MIB:.0f} MiB"
    assert flush <= bound, f"flush peaked at {flush / MIB:.0f} MiB (idle {idle / MIB:.0f})"

    [item] = items(data)
    assert item.sent_copy_done
    mail_servers.wait_for_message(to, item.message_id)
    settle(mail_servers)
    context = ssl.create_default_context(cafile=str(mail_servers.ca_file))
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl=True, ssl_context=context, timeout=60
    ) as client:
        client.login(to, mail_servers.users[to])
        client.select_folder("INBOX", readonly=True)
        [uid] = client.search(["HEADER", "Message-ID", item.message_id])
        body = client.fetch([uid], ["BODY.PEEK[2]"])[uid][b"BODY[2]"]
        assert hashlib.sha256(base64.b64decode(body)).digest() == digest.digest()
        del body
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl=True, ssl_context=context, timeout=60
    ) as client:
        client.login(sender, mail_servers.users[sender])
        client.select_folder("Sent", readonly=True)
        [uid] = client.search(["HEADER", "Message-ID", item.message_id])
        sent = client.fetch([uid], ["BODY.PEEK[2]", "FLAGS"])[uid]
        assert hashlib.sha256(base64.b64decode(sent[b"BODY[2]"])).digest() == digest.digest()
        assert b"\\Seen" in sent[b"FLAGS"]


def run_measured(command: list[str]) -> int:
    """Run `command` to its end; its peak resident set size in bytes (from wait4)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stderr is not None
        err = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, err.decode(errors="replace")
    return usage.ru_maxrss * 1024  # KiB on Linux


def test_append_streamed_writes_the_literal_from_chunks(
    mail_servers: MailServers,
) -> None:
    user = mail_servers.add_user("append")
    raw = b"From: a@example.org\r\nSubject: chunks\r\nMessage-ID: <chunks@x>\r\n\r\n" + (
        b"line of the body\r\n" * 5000
    )
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    pieces = [raw[i : i + 7001] for i in range(0, len(raw), 7001)]
    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl=True, ssl_context=context, timeout=30
    ) as client:
        client.login(user, mail_servers.users[user])
        reply = append_streamed(
            client, "INBOX", len(raw), iter(pieces), flags=("\\Seen",), msg_time=when
        )
        assert "append" in reply.lower()  # the server's OK text
        assert "send" not in vars(client._imap)  # imaplib's own send again
        client.select_folder("INBOX", readonly=True)
        [uid] = client.search(["HEADER", "Message-ID", "<chunks@x>"])
        fetched = client.fetch([uid], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])[uid]
        assert fetched[b"BODY[]"] == raw
        assert b"\\Seen" in fetched[b"FLAGS"]
        assert fetched[b"INTERNALDATE"].astimezone(UTC) == when

        # A refusal is an error, and the connection goes on.
        with pytest.raises(imapclient.exceptions.IMAPClientError):
            append_streamed(client, "No such folder", len(raw), iter(pieces))
        assert client.noop()

        # Chunks that do not add up to the size leave the connection unusable: it says so.
        with pytest.raises(imaplib.IMAP4.abort):
            append_streamed(client, "INBOX", len(raw) + 10, iter(pieces))
