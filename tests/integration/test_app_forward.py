"""Forwarding inline (`f`) in the app against the real Dovecot and Postfix: the original's
attachments reach the recipient with the same bytes, names and types, also when only the
original's text was local when `f` was pressed."""

from __future__ import annotations

import asyncio
import json
import random
import shlex
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest
from textual.widgets import Static

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.store import outbox, read
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration


def _original(domain: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ann <ann@{domain}>"
    msg["To"] = f"fwdsender@{domain}"
    msg["Subject"] = "the files"
    msg["Message-ID"] = f"<forward-original@{domain}>"
    msg.set_content("Here they are.\n")
    msg.add_attachment(
        random.Random(3).randbytes(300_000),
        maintype="application",
        subtype="pdf",
        filename="Übersicht 2026.pdf",
    )
    msg.add_attachment(
        "caf\xe9\r\nline\n".encode("latin-1"),
        maintype="text",
        subtype="plain",
        filename="notes.txt",
        params={"charset": "iso-8859-1"},
    )
    return msg.as_bytes()


def _attachments(raw: bytes) -> list[tuple[str | None, str, bytes]]:
    parsed = message_from_bytes(raw, policy=policy.default)
    return [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in parsed.iter_attachments()
    ]


async def test_forward_inline_delivers_the_originals_attachments(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    sender = mail_servers.add_user("fwdsender")
    recipient = mail_servers.add_user("fwdrcpt")
    original = _original(mail_servers.domain)
    mail_servers.deliver(sender, original)
    password = shlex.quote(mail_servers.users[sender])
    config = parse_config(
        "[accounts.acct]\n"
        f'address = "{sender}@{mail_servers.domain}"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        "[accounts.acct.imap]\n"
        f'host = "{mail_servers.host}"\nport = {mail_servers.imaps_port}\n'
        f'username = "{sender}"\n'
        'bodies = "none"\n'  # headers only: opening fetches the text, not the attachments
        "[accounts.acct.smtp]\n"
        f'host = "{mail_servers.host}"\nport = {mail_servers.submission_port}\n'
        f'security = "starttls"\nusername = "{sender}"\nundo_send_seconds = 0\n'
        "sent_copy = false\n"
    )
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 1)
        body = app.screen.query_one("#view-body", Static)
        await wait_for(pilot, lambda: "Here they are." in str(body.render()))
        row = read.row(app.conn, table.ids[0])
        assert row is not None and read.body(app.conn, row.id) is None  # the text only
        table.focus()
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposerScreen))
        screen = app.screen
        shown = str(screen.query_one("#attachments", Static).render())
        assert shown == "Attachments: Übersicht 2026.pdf, notes.txt"
        screen.query_one("#to").value = f"{recipient}@{mail_servers.domain}"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))

        def sent() -> bool:
            items = outbox.items(app.conn)
            return bool(items) and items[0].state is outbox.OutboxState.SENT

        await wait_for(pilot, sent)
        (item,) = outbox.items(app.conn)
    await asyncio.to_thread(mail_servers.wait_for_message, recipient, item.message_id, timeout=60)

    def received() -> bytes:
        context = mail_servers.client_ssl_context()
        with imapclient.IMAPClient(
            mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
        ) as client:
            client.login(recipient, mail_servers.users[recipient])
            client.select_folder("INBOX", readonly=True)
            (uid,) = client.search("ALL")
            return client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]

    raw = await asyncio.to_thread(received)
    assert _attachments(raw) == _attachments(original)
    parsed = message_from_bytes(raw, policy=policy.default)
    notes = [p for p in parsed.iter_attachments() if p.get_filename() == "notes.txt"]
    assert notes[0].get_param("charset") == "iso-8859-1"
