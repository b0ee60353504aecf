"""A POP3 message whose headers are raw UTF-8, on a Courier-like server offering UTF8 (RFC 6856):
the app shows it as it was written, not the server's "Cannot display Unicode content" stand-in.
Dovecot 2.3 does not offer UTF8, so the server is tests/support/fake_pop3.py."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.fake_pop3 import FakeMessage, FakePop3Server
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.ui.widgets.message_list import MessageList

RAW = (
    "From: Jürgen Müller <juergen@example.org>\r\nTo: fake@example.org\r\n"
    "Subject: Grüße aus Köln\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
    "Message-ID: <utf8-app@example.org>\r\n\r\nHallo aus Köln.\r\n"
).encode()


async def test_raw_utf8_headers_arrive_and_show_as_written(tmp_path: Path) -> None:
    with FakePop3Server([FakeMessage(RAW, b"u1")], utf8=True) as server:
        config = parse_config(
            '[accounts.fake]\naddress = "fake@example.org"\n'
            f"password_command = {json.dumps('printf %s ' + server.password)}\n"
            f'[accounts.fake.pop3]\nhost = "{server.host}"\nport = {server.port}\n'
            f'security = "none"\nusername = "{server.user}"\n'
        )
        app = TuimailApp(config, tmp_path)
        async with app.run_test(size=(120, 36)) as pilot:
            messages = app.screen.query_one(MessageList)
            await wait_for(pilot, lambda: len(messages.ids) == 1)
            row = messages.row_at(0)
            assert row is not None
            assert row.envelope.subject == "Grüße aus Köln"
            assert "Jürgen Müller" in messages.render_line(0).text
