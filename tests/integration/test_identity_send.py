"""Sending as an alias identity through the real Postfix into the real Dovecot: a reply to a
message addressed to the alias goes out from the alias (From and the envelope sender, which
Dovecot records as Return-Path), with the alias's signature, and the Sent copy says the same."""

from __future__ import annotations

import asyncio
import json
import shlex
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from textual.widgets import TextArea

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tests.support.smtp_send import imap_copies
from tuimail.app.application import TuimailApp
from tuimail.config.load import load_config
from tuimail.store import outbox
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration


async def test_a_reply_to_the_alias_is_sent_from_the_alias_and_filed_so(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    sender = mail_servers.add_user("idsender")
    recipient = mail_servers.add_user("idrcpt")
    domain = mail_servers.domain
    alias = f"help-desk@{domain}"
    original = (
        f"From: Ann <{recipient}@{domain}>\r\n"
        f"To: Help Desk <{alias.upper()}>\r\n"
        "Subject: printer\r\n"
        f"Message-ID: <identity-original@{domain}>\r\n"
        "\r\nIt is on fire.\r\n"
    ).encode()
    mail_servers.deliver(sender, original)
    password = shlex.quote(mail_servers.users[sender])
    config = tmp_path / "config.toml"
    config.write_text(
        "[accounts.acct]\n"
        f'address = "{sender}@{domain}"\n'
        'display_name = "Sender Self"\n'
        'signature = "Sender at home"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        "[[accounts.acct.identities]]\n"
        f'address = "{alias}"\nname = "Help Desk"\nsignature = "The Help Desk team"\n'
        "[accounts.acct.imap]\n"
        f'host = "{mail_servers.host}"\nport = {mail_servers.imaps_port}\n'
        f'username = "{sender}"\n'
        "[accounts.acct.smtp]\n"
        f'host = "{mail_servers.host}"\nport = {mail_servers.submission_port}\n'
        f'security = "starttls"\nusername = "{sender}"\nundo_send_seconds = 0\n'
    )
    app = TuimailApp(load_config(config), tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 1)
        table.focus()
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposerScreen))
        composer = app.screen
        assert composer.from_.email == alias
        assert composer.query_one("#to").value == f"Ann <{recipient}@{domain}>"
        assert composer.query_one(TextArea).text.endswith("\n-- \nThe Help Desk team\n")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))

        def sent() -> bool:  # delivered, and its Sent copy put in place
            items = outbox.items(app.conn)
            return (
                bool(items)
                and items[0].state is outbox.OutboxState.SENT
                and (items[0].sent_copy_done)
            )

        await wait_for(pilot, sent)
        (item,) = outbox.items(app.conn)
        assert item.env_from == alias
    await asyncio.to_thread(mail_servers.wait_for_message, recipient, item.message_id, timeout=60)
    (delivered,) = await asyncio.to_thread(
        imap_copies, mail_servers, recipient, item.message_id, "INBOX"
    )
    received = message_from_bytes(delivered["raw"], policy=policy.default)
    assert received["From"] == f"Help Desk <{alias}>"
    assert received["Return-Path"] == f"<{alias}>"  # the envelope sender
    assert received.get_content().replace("\r\n", "\n").endswith("\n-- \nThe Help Desk team\n")
    (filed,) = await asyncio.to_thread(imap_copies, mail_servers, sender, item.message_id, "Sent")
    copy = message_from_bytes(filed["raw"], policy=policy.default)
    assert copy["From"] == f"Help Desk <{alias}>"
