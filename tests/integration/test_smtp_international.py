"""Internationalized addresses and the EHLO name, against the real Postfix (and Dovecot).

- An IDN domain goes into the envelope and the headers as IDNA A-labels; such a message needs
  nothing else and is delivered to Dovecot (which ignores the domain of a recipient).
- An address with non-ASCII characters before the "@" goes out with SMTPUTF8 (RFC 6531), and
  UTF-8 headers (RFC 6532), through the Postfix listeners that offer it. Dovecot 2.3 cannot take
  such an address, so Postfix hands that mail to a file sink (SINK_DOMAIN) where the test reads
  the envelope (Return-Path, X-Original-To) and the headers as delivered.
- The listener on 127.0.0.4 does not offer SMTPUTF8: the message fails with the reason in the
  outbox, kept and never mangled, and once the store has seen that, the next such message is
  refused before it is queued (composer and `tuimail send`).
- EHLO gives the configured `helo_name`, else the machine's name or address, never a made-up
  "localhost"; Postfix writes it into its Received header.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tests.support.postfix import IDN_DOMAIN, IDN_DOMAIN_ASCII, SINK_DOMAIN, SINK_DOMAIN_ASCII
from tests.support.smtp_send import imap_copies, items, settle
from tuimail.app.application import TuimailApp
from tuimail.cli.main import main
from tuimail.config.load import parse_config
from tuimail.store import outbox
from tuimail.sync.smtp.connect import smtp_client_name
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.outbox import OutboxScreen

pytestmark = pytest.mark.integration

REPLACEMENT = "\N{REPLACEMENT CHARACTER}".encode()


def _config_text(
    servers: MailServers, user: str, *, plain: bool = False, helo: str | None = None
) -> str:
    """Account `acct`: IMAP for the Sent copies; SMTP submission with SMTPUTF8, or with
    `plain` the listener without TLS and without SMTPUTF8."""
    password = shlex.quote(servers.users[user])
    smtp_host, security = (servers.plain_host, "none") if plain else (servers.host, "starttls")
    return (
        "[accounts.acct]\n"
        f'address = "{servers.address(user)}"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(servers.ca_file))}\n"
        "[accounts.acct.imap]\n"
        f'host = "{servers.host}"\nport = {servers.imaps_port}\nusername = "{user}"\n'
        "[accounts.acct.smtp]\n"
        f'host = "{smtp_host}"\nport = {servers.submission_port}\n'
        f'security = "{security}"\nusername = "{user}"\nundo_send_seconds = 0\n'
        + (f'helo_name = "{helo}"\n' if helo else "")
    )


def _sunk(servers: MailServers, marker: str, *, count: int = 1) -> list[bytes]:
    """The sink's messages containing `marker`, once there are `count` (bounded wait)."""
    assert servers.postfix is not None
    deadline = time.monotonic() + 30
    while True:
        found = [raw for raw in servers.postfix.sink() if marker.encode() in raw]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{marker} not in the sink:\n{servers.postfix_log()}"
        time.sleep(0.1)


def _head(raw: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]


async def _type_into(pilot, selector: str, text: str) -> None:
    pilot.app.screen.query_one(selector, Input).focus()
    await pilot.press(*text)


async def _compose(pilot, to: str, subject: str) -> None:
    await pilot.press("c")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ComposerScreen)
    await _type_into(pilot, "#to", to)
    await _type_into(pilot, "#subject", subject)
    await pilot.press("ctrl+s")
    await pilot.pause()


def _states(app: TuimailApp) -> dict[str, outbox.OutboxState]:
    return {i.message_id: i.state for i in outbox.items(app.conn)}


async def _send_from_composer(
    servers: MailServers, tmp_path: Path, user: str, to: str, subject: str
) -> outbox.OutboxItem:
    """Write a message to `to` in the app's composer, send it, and wait until it is sent."""
    app = TuimailApp(parse_config(_config_text(servers, user)), tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _compose(pilot, to, subject)
        assert isinstance(app.screen, MainScreen)

        def sent_and_copied() -> bool:
            done = outbox.items(app.conn)
            return bool(done) and all(
                i.state is outbox.OutboxState.SENT and i.sent_copy_done for i in done
            )

        await wait_for(pilot, sent_and_copied, seconds=60)
        [item] = outbox.items(app.conn)
    return item


async def test_composer_sends_an_idn_domain_as_a_labels(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("idn")
    friend = mail_servers.add_user("friend")
    # An ASCII local part at an IDN domain: nothing but the A-label form is needed.
    item = await _send_from_composer(
        mail_servers, tmp_path, user, f"Fründ <{friend}@{IDN_DOMAIN}>", "to an idn domain"
    )
    assert item.env_rcpts == (f"{friend}@{IDN_DOMAIN_ASCII}",)
    mail_servers.wait_for_message(friend, item.message_id)
    settle(mail_servers)
    [delivered] = imap_copies(mail_servers, friend, item.message_id, "INBOX")
    head = _head(delivered["raw"])
    assert f"<{friend}@{IDN_DOMAIN_ASCII}>".encode() in head
    assert head.isascii()  # the name in RFC 2047 encoded words, no SMTPUTF8 needed
    assert f"to=<{friend}@{IDN_DOMAIN_ASCII}>" in mail_servers.postfix_log()


async def test_composer_sends_a_utf8_local_part_with_smtputf8(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("intl")
    # A non-ASCII local part: SMTPUTF8 (this listener offers it), UTF-8 in the To header.
    item = await _send_from_composer(
        mail_servers, tmp_path, user, f"Jörg <jörg@{SINK_DOMAIN}>", "to jörg"
    )
    assert item.env_rcpts == (f"jörg@{SINK_DOMAIN_ASCII}",)
    [sunk] = _sunk(mail_servers, item.message_id)
    head = _head(sunk)
    assert f"X-Original-To: jörg@{SINK_DOMAIN_ASCII}".encode() in head
    assert f"Return-Path: <{mail_servers.address(user)}>".encode() in head
    assert b"with UTF8SMTPSA" in head  # Postfix took it with SMTPUTF8
    assert f"<jörg@{SINK_DOMAIN_ASCII}>".encode() in head  # the To header, in UTF-8
    assert REPLACEMENT not in sunk
    # The Sent copy is the same message.
    [sent] = imap_copies(mail_servers, user, item.message_id, "Sent")
    assert f"<jörg@{SINK_DOMAIN_ASCII}>".encode() in _head(sent["raw"])


async def test_a_server_without_smtputf8_fails_the_item_in_words_then_refuses_before_queueing(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("noutf8")
    app = TuimailApp(parse_config(_config_text(mail_servers, user, plain=True)), tmp_path)
    where = f"{mail_servers.plain_host}:{mail_servers.submission_port}"
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        # Not known yet what the server offers: queued, then refused by the sender itself.
        await _compose(pilot, f"jörg@{SINK_DOMAIN}", "first try")
        assert isinstance(app.screen, MainScreen)
        await wait_for(
            pilot, lambda: set(_states(app).values()) == {outbox.OutboxState.FAILED}, seconds=60
        )
        [item] = outbox.items(app.conn)
        assert item.last_reply is not None
        assert "SMTPUTF8" in item.last_reply and where in item.last_reply
        assert f"jörg@{SINK_DOMAIN_ASCII}" in item.last_reply
        # The outbox shows why; the message is kept (its bytes are the composed ones).
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        detail = str(app.screen.query_one("#outbox-detail", Static).render())
        assert "non-ASCII characters before the @" in detail and "SMTPUTF8" in detail
        raw = outbox.raw_message(app.conn, item.id)
        assert f"To: jörg@{SINK_DOMAIN_ASCII}\r\n".encode() in raw
        # Taken back into the composer (e), the address is there to fix; sent again as it is,
        # it is refused at once now that the store knows what the server offers.
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert f"jörg@{SINK_DOMAIN_ASCII}" in app.screen.query_one("#to", Input).value
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        refusal = [n.message for n in app._notifications if n.message.startswith("Not queued")]
        assert refusal and "SMTPUTF8" in refusal[-1] and f"jörg@{SINK_DOMAIN_ASCII}" in refusal[-1]
        assert outbox.items(app.conn) == []
        # An ASCII address still goes through this server.
        friend = mail_servers.add_user("plainfriend")
        app.screen.query_one("#to", Input).focus()
        await pilot.press("end", "ctrl+u", *mail_servers.address(friend))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await wait_for(pilot, lambda: outbox.OutboxState.SENT in _states(app).values(), seconds=60)
    assert not [raw for raw in mail_servers.postfix.sink() if item.message_id.encode() in raw]


def test_send_command_keeps_utf8_addresses_intact(
    mail_servers: MailServers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = mail_servers.add_user("cli")
    config = tmp_path / "config.toml"
    config.write_text(_config_text(mail_servers, user))
    eml = tmp_path / "m.eml"
    eml.write_bytes(
        f"To: Jörg <jörg@{SINK_DOMAIN}>\nSubject: from the command line\n\nHallo\n".encode()
    )
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert main([*common, "send", "--now", str(eml)]) == 0
    assert "1 sent" in capsys.readouterr().out
    [item] = items(tmp_path / "data")
    assert item.env_rcpts == (f"jörg@{SINK_DOMAIN_ASCII}",)
    [sunk] = _sunk(mail_servers, item.message_id)
    assert f"X-Original-To: jörg@{SINK_DOMAIN_ASCII}".encode() in sunk
    assert f"To: Jörg <jörg@{SINK_DOMAIN}>".encode() in sunk  # the header as written
    assert REPLACEMENT not in sunk


def test_send_command_without_smtputf8_fails_in_words_then_refuses_before_queueing(
    mail_servers: MailServers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = mail_servers.add_user("clinoutf8")
    config = tmp_path / "config.toml"
    config.write_text(_config_text(mail_servers, user, plain=True))
    eml = tmp_path / "m.eml"
    eml.write_bytes(f"To: jörg@{SINK_DOMAIN}\nSubject: no smtputf8\n\nHallo\n".encode())
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]

    assert main([*common, "send", "--now", str(eml)]) == 1
    out = capsys.readouterr()
    assert "1 failed" in out.out
    [item] = items(tmp_path / "data")
    assert item.state is outbox.OutboxState.FAILED
    assert item.last_reply is not None and "SMTPUTF8" in item.last_reply
    assert main([*common, "outbox", "list"]) == 0
    assert "non-ASCII characters before the @" in capsys.readouterr().out

    # The store now knows this server: nothing more is queued.
    assert main([*common, "send", "--now", str(eml)]) == 2
    err = capsys.readouterr().err
    assert "not queued" in err and "SMTPUTF8" in err and f"jörg@{SINK_DOMAIN_ASCII}" in err
    assert len(items(tmp_path / "data")) == 1


@pytest.mark.parametrize("helo", ["client.tuimail.test", None])
def test_ehlo_gives_the_configured_name_or_the_machines(
    mail_servers: MailServers, tmp_path: Path, helo: str | None
) -> None:
    user = mail_servers.add_user("helo")
    friend = mail_servers.add_user("helofriend")
    config = tmp_path / "config.toml"
    config.write_text(_config_text(mail_servers, user, helo=helo))
    eml = tmp_path / "m.eml"
    eml.write_bytes(f"To: {mail_servers.address(friend)}\nSubject: helo\n\nHallo\n".encode())
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert main([*common, "send", "--now", str(eml)]) == 0
    [item] = items(tmp_path / "data")
    mail_servers.wait_for_message(friend, item.message_id)
    [delivered] = imap_copies(mail_servers, friend, item.message_id, "INBOX")
    expected = helo or smtp_client_name((mail_servers.host, 0))
    assert expected != "localhost"
    # Postfix's: "Received: from <EHLO name> (<reverse name> [<address>]) by ... (Postfix)".
    received = re.search(rb"Received: from (\S+) \([^)]*\)\s+by \S+ \(Postfix\)", delivered["raw"])
    assert received is not None and received.group(1).decode() == expected
