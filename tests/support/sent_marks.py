"""An account that receives over IMAP and sends through the test Postfix, and the messages that
are replied to or forwarded."""

from __future__ import annotations

import json
import shlex

from tests.support.mailservers import MailServers
from tuimail.config.load import parse_config


def account_config(
    servers: MailServers,
    user: str,
    *,
    undo: int = 1,
    imap_port: int | None = None,
    bodies: str | None = None,
):
    """Account `acct`: the user's IMAP INBOX and SMTP submission (undo-send `undo` seconds);
    `bodies`: the IMAP `bodies` setting, when not the default."""
    password = shlex.quote(servers.users[user])
    return parse_config(
        "[accounts.acct]\n"
        f'address = "{servers.address(user)}"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(servers.ca_file))}\n"
        "[accounts.acct.imap]\n"
        f'host = "{servers.host}"\nport = {imap_port or servers.imaps_port}\n'
        f'username = "{user}"\n'
        + (f'bodies = "{bodies}"\n' if bodies else "")
        + "[accounts.acct.smtp]\n"
        f'host = "{servers.host}"\nport = {servers.submission_port}\n'
        f'security = "starttls"\nusername = "{user}"\nundo_send_seconds = {undo}\n'
    )


def sender_message(sender: str, number: int) -> bytes:
    return (
        f"From: Writer <{sender}>\r\n"
        "To: someone@tuimail.test\r\n"
        f"Subject: original {number}\r\n"
        f"Date: Mon, {number:02d} Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <original-{number}@tuimail.test>\r\n"
        "\r\n"
        f"Please answer {number}.\r\n"
    ).encode()
