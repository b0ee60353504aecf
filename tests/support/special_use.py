"""Sending through the app's sender with the Sent copy filed over IMAP on the test servers."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from tests.support.dovecot import DovecotServer
from tests.support.mailservers import MailServers
from tuimail.cli.main import main
from tuimail.store import outbox
from tuimail.store.db import open_store


def send_with_imap_elsewhere(
    mail_servers: MailServers, imap: DovecotServer, user: str, imap_port: int, tmp_path: Path
) -> str:
    """`tuimail send --now` from a new user of `mail_servers` (SMTP) whose IMAP account is
    `user` of `imap`, reached in plain text on `imap_port` (a proxy), never synced. Returns the
    Message-ID of the message sent (its Sent copy filed, as the outbox says)."""
    sender = mail_servers.add_user("sender")
    imap_password = json.dumps("printf '%s\\n' " + shlex.quote(imap.users[user]))
    smtp_password = json.dumps("printf '%s\\n' " + shlex.quote(mail_servers.users[sender]))
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[accounts.home]
address = "{mail_servers.address(sender)}"
ca_file = {json.dumps(str(mail_servers.ca_file))}
[accounts.home.imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{user}"
password_command = {imap_password}
[accounts.home.smtp]
host = "{mail_servers.host}"
port = {mail_servers.submission_port}
security = "starttls"
username = "{sender}"
password_command = {smtp_password}
"""
    )
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: someone@tuimail.test\nSubject: filed where?\n\nHello\n")
    data = tmp_path / "data"
    assert main(["--config", str(config), "--data-dir", str(data), "send", "--now", str(eml)]) == 0
    conn = open_store(data)
    try:
        [item] = outbox.items(conn)
    finally:
        conn.close()
    assert item.sent_copy_done
    return item.message_id
