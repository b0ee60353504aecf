"""An mbox file of known messages, what they look like on the server, and the config of the
account they are imported into."""

from __future__ import annotations

import io
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path

from tests.support.mailservers import MailServers
from tuimail.mail.formats.export import write_mbox_entry

DATES = [datetime(2019, 5, day, 8, 30, 0, tzinfo=UTC) for day in range(1, 6)]


def message(number: int, body: bytes = b"body\r\n", *, headers: bytes = b"") -> bytes:
    return (
        (
            f"From: Sender {number} <sender{number}@tuimail.test>\r\n"
            f"Subject: imported {number}\r\n"
            f"Date: Wed, {number:02d} May 2019 08:30:00 +0000\r\n"
            f"Message-ID: <imported-{number}@tuimail.test>\r\n"
        ).encode()
        + headers
        + b"\r\n"
        + body
    )


# What goes up, and what the server must then hold (lone LF becomes CRLF; nothing else changes).
MESSAGES = [
    message(1, b"From the start of a line\r\n>From quoted\r\n", headers=b"Status: RO\r\n"),
    message(2, b"flagged and answered\r\n", headers=b"X-Status: AF\r\n"),
    b"Subject: no message id\r\n\r\nplain\r\n",
    b"Subject: LF only\nMessage-ID: <lf@tuimail.test>\n\nline\n",
    message(1, b"From the start of a line\r\n>From quoted\r\n", headers=b"Status: RO\r\n"),
]


ON_SERVER = [raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for raw in MESSAGES]


def write_config(servers: MailServers, user: str, path: Path) -> Path:
    password = shlex.quote(servers.users[user])
    path.write_text(
        "[accounts.acct]\n"
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(servers.ca_file))}\n"
        "[accounts.acct.imap]\n"
        f'host = "{servers.host}"\n'
        f"port = {servers.imaps_port}\n"
        f'username = "{user}"\n'
    )
    return path


def mbox_file(path: Path) -> Path:
    buffer = io.BytesIO()
    for raw, when in zip(MESSAGES, DATES, strict=True):
        write_mbox_entry(buffer, raw, "sender@tuimail.test", when)
    path.write_bytes(buffer.getvalue())
    return path
