"""The app on an account of the test servers: its config, numbered messages to deliver, and the
message list's cursor placed by subject."""

from __future__ import annotations

import json
import shlex

from tests.support.mailservers import MailServers
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.ui.widgets.message_list import MessageList


def numbered_message(number: int) -> bytes:
    return (
        f"From: Sender {number} <sender{number}@tuimail.test>\r\n"
        "To: someone@tuimail.test\r\n"
        f"Subject: app test {number}\r\n"
        f"Date: Mon, {number:02d} Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <app-{number}@tuimail.test>\r\n"
        "\r\n"
        f"Body number {number}.\r\n"
    ).encode()


def account_config_text(mail_servers: MailServers, user: str, protocol: str, port: int) -> str:
    password = shlex.quote(mail_servers.users[user])
    return (
        f"[accounts.acct]\n"
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        f"[accounts.acct.{protocol}]\n"
        f'host = "{mail_servers.host}"\nport = {port}\nusername = "{user}"\n'
    )


def account_config(mail_servers: MailServers, user: str, protocol: str, port: int):
    return parse_config(account_config_text(mail_servers, user, protocol, port))


def place_cursor_on(app: TuimailApp, subject: str) -> int:
    messages = app.screen.query_one(MessageList)
    index = next(
        i for i in range(len(messages.ids)) if messages.row_at(i).envelope.subject == subject
    )
    messages.cursor = index
    return messages.ids[index]
