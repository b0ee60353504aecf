"""| in the app against the real Dovecot: a message of which only the text is local is
downloaded whole first, and the command gets the server's exact bytes (or the attachment,
decoded)."""

from __future__ import annotations

import json
import random
import shlex
import sys
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest
from textual.widgets import Input, Static

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.store import read
from tuimail.ui.screens.pipe_output import PipeOutputScreen
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration

PDF = random.Random(7).randbytes(200_000)
RECORDER = "import sys; open(sys.argv[1], 'wb').write(sys.stdin.buffer.read())"


def _original(domain: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ann <ann@{domain}>"
    msg["Subject"] = "the report"
    msg["Message-ID"] = f"<pipe-original@{domain}>"
    msg.set_content("The report is attached.\n")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    return msg.as_bytes()


async def test_pipe_downloads_the_whole_message_first(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("piper")
    mail_servers.deliver(user, _original(mail_servers.domain))
    password = shlex.quote(mail_servers.users[user])
    config = parse_config(
        "[accounts.acct]\n"
        f'address = "{user}@{mail_servers.domain}"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        "[accounts.acct.imap]\n"
        f'host = "{mail_servers.host}"\nport = {mail_servers.imaps_port}\n'
        f'username = "{user}"\n'
        'bodies = "none"\n'  # headers only: opening fetches the text, not the attachment
    )
    recorded = {name: tmp_path / f"{name}.bin" for name in ("whole", "part")}
    app = TuimailApp(config, tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 1)
        body = app.screen.query_one("#view-body", Static)
        await wait_for(pilot, lambda: "The report is attached." in str(body.render()))
        message_id = table.ids[0]
        assert read.body(app.conn, message_id) is None  # the text only
        for name, part in (("whole", "0"), ("part", "1")):
            table.focus()
            await pilot.press("vertical_line")
            await pilot.pause()
            app.screen.query_one("#answer", Input).value = part
            await pilot.press("enter")
            await pilot.pause()
            command = shlex.join([sys.executable, "-c", RECORDER, str(recorded[name])])
            app.screen.query_one("#answer", Input).value = command
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, PipeOutputScreen))
            screen = app.screen
            assert isinstance(screen, PipeOutputScreen)
            await wait_for(pilot, lambda shown=screen: shown.outcome is not None)
            assert screen.outcome is not None and screen.outcome.status == 0
            await pilot.press("escape")
            await pilot.pause()

    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        client.select_folder("INBOX", readonly=True)
        (uid,) = client.search("ALL")
        on_server = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    assert recorded["whole"].read_bytes() == on_server
    assert recorded["part"].read_bytes() == PDF
