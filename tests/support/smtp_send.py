"""An account that sends through the test Postfix: its config, messages to queue, and what the
outbox and the recipients' mailboxes hold afterwards."""

from __future__ import annotations

import json
import shlex
import ssl
import time
from pathlib import Path

import imapclient

from tests.support.mailservers import MailServers
from tuimail.store import outbox
from tuimail.store.db import open_store


def write_config(
    servers: MailServers,
    user: str,
    path: Path,
    *,
    imap: bool = True,
    smtp_host: str | None = None,
    smtp_port: int | None = None,
    security: str = "starttls",
    timeout_note: str = "",
) -> Path:
    """An account `home` for `user`: IMAP (for Sent) and SMTP submission."""
    command = "printf '%s\\n' " + shlex.quote(servers.users[user])
    imap_table = (
        f"""
[accounts.home.imap]
host = "{servers.host}"
port = {servers.imaps_port}
username = "{user}"
"""
        if imap
        else ""
    )
    path.write_text(
        f"""
[accounts.home]
address = "{servers.address(user)}"
display_name = "Sender {user}"
ca_file = {json.dumps(str(servers.ca_file))}
password_command = {json.dumps(command)}
{imap_table}
[accounts.home.smtp]
host = "{smtp_host or servers.host}"
port = {smtp_port or servers.submission_port}
security = "{security}"
username = "{user}"
{timeout_note}
"""
    )
    return path


def message(to: list[str], *, subject: str, bcc: list[str] = (), line_end: bytes = b"\n") -> bytes:
    """A message as a user writes it: no From, Date or Message-ID, LF line ends."""
    lines = [f"To: {', '.join(to)}".encode()]
    if bcc:
        lines.append(f"Bcc: {', '.join(bcc)}".encode())
    lines += [
        f"Subject: {subject}".encode(),
        b"",
        b"Hello,",
        b".a line starting with a dot",
        b"Bye",
    ]
    return line_end.join(lines) + line_end


def imap_copies(servers: MailServers, user: str, message_id: str, folder: str) -> list[dict]:
    """Every copy of `message_id` in `user`'s `folder`, with its flags and bytes."""
    context = ssl.create_default_context(cafile=str(servers.ca_file))
    with imapclient.IMAPClient(
        servers.host, servers.imaps_port, ssl=True, ssl_context=context, timeout=20
    ) as client:
        client.login(user, servers.users[user])
        client.select_folder(folder, readonly=True)
        uids = client.search(["HEADER", "Message-ID", message_id])
        fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
        return [{"flags": fetched[uid][b"FLAGS"], "raw": fetched[uid][b"BODY[]"]} for uid in uids]


def settle(servers: MailServers) -> None:
    """Wait (bounded) until Postfix has handed every accepted message on."""
    assert servers.postfix is not None
    deadline = time.monotonic() + 30
    while not servers.postfix.queue_empty():
        assert time.monotonic() < deadline, "Postfix's queue did not drain"
        time.sleep(0.1)


def items(data_dir: Path) -> list[outbox.OutboxItem]:
    conn = open_store(data_dir)
    try:
        return outbox.items(conn)
    finally:
        conn.close()
