"""The app against the real Dovecot: a POP3 account fetched by the app's worker, and an IMAP
message whose body is downloaded when it is opened."""

from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path

import imapclient
import pytest
from textual.widgets import Static

from tests.support.app_mail import account_config, account_config_text, numbered_message
from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.store import outbox, read
from tuimail.store.db import open_store
from tuimail.sync.events import discard
from tuimail.sync.imap.account import sync_account
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration


async def test_app_fetches_pop3_mail_without_a_keypress(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("apppop")
    for number in (1, 2, 3):
        mail_servers.deliver(user, numbered_message(number))
    config = account_config(mail_servers, user, "pop3", mail_servers.pop3s_port)
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 3)
        subjects = {table.row_at(i).envelope.subject for i in range(3)}
        assert subjects == {"app test 1", "app test 2", "app test 3"}


async def test_opening_a_headers_only_imap_message_downloads_its_body(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appimap")
    mail_servers.deliver(user, numbered_message(7))
    text = account_config_text(mail_servers, user, "imap", mail_servers.imaps_port)
    config = parse_config(text + 'bodies = "none"\n')
    account = config.accounts["acct"]
    # A headers-only first sync (bodies = "none"): the body comes when the message is opened.
    assert await asyncio.to_thread(sync_account, account, tmp_path, discard)
    conn = open_store(tmp_path)
    try:
        inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
        (row,) = read.rows(conn, read.message_ids(conn, inbox.id))
        assert not row.body_local
    finally:
        conn.close()
    app = TuimailApp(config, tmp_path, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        body = app.screen.query_one("#view-body", Static)
        await wait_for(pilot, lambda: "Body number 7." in str(body.render()))
    conn = open_store(tmp_path)
    try:
        assert read.body(conn, row.id) is not None
    finally:
        conn.close()


async def test_the_app_downloads_every_body_when_the_account_says_bodies(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    """`imap.bodies = true` is read by the app's own sync, as by `tuimail sync`: after the app's
    first pass every message can be read offline, not only those opened."""
    user = mail_servers.add_user("appbodies")
    for number in (1, 2, 3):
        mail_servers.deliver(user, numbered_message(number))
    text = account_config_text(mail_servers, user, "imap", mail_servers.imaps_port)
    config = parse_config(text + "bodies = true\n")
    assert config.accounts["acct"].incoming.bodies
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 3)
        await wait_for(pilot, lambda: app.engines.watching("acct"))  # the pass ended
    conn = open_store(tmp_path)
    try:
        inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
        rows = read.rows(conn, read.message_ids(conn, inbox.id))
        assert len(rows) == 3 and all(row.body_local for row in rows)
    finally:
        conn.close()


async def test_imap_mail_arriving_later_appears_through_the_inbox_watcher(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appidle")
    mail_servers.deliver(user, numbered_message(1))
    config = account_config(mail_servers, user, "imap", mail_servers.imaps_port)
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 1)
        await wait_for(pilot, lambda: app.engines.watching("acct"))
        # Another client's mail, after the first sync: IDLE brings it in.
        await asyncio.to_thread(mail_servers.deliver, user, numbered_message(2))
        await wait_for(pilot, lambda: len(table.ids) == 2)
        assert table.row_at(0).envelope.subject == "app test 2"


async def test_flagging_in_the_app_reaches_the_imap_server(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appflag")
    mail_servers.deliver(user, numbered_message(5))
    config = account_config(mail_servers, user, "imap", mail_servers.imaps_port)
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 1)
        table.focus()
        await pilot.press("F")

        def flagged_on_server() -> bool:
            context = mail_servers.client_ssl_context()
            with imapclient.IMAPClient(
                mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
            ) as client:
                client.login(user, mail_servers.users[user])
                client.select_folder("INBOX", readonly=True)
                flags = client.get_flags(client.search("ALL"))
                return any(b"\\Flagged" in f for f in flags.values())

        for _ in range(200):
            if await asyncio.to_thread(flagged_on_server):
                break
            await pilot.pause(0.1)
        assert await asyncio.to_thread(flagged_on_server)


async def test_a_message_written_in_the_app_is_delivered(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    sender = mail_servers.add_user("appsend")
    recipient = mail_servers.add_user("apprcpt")
    password = shlex.quote(mail_servers.users[sender])
    config = parse_config(
        "[accounts.acct]\n"
        f'address = "{sender}@{mail_servers.domain}"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        "[accounts.acct.smtp]\n"
        f'host = "{mail_servers.host}"\nport = {mail_servers.submission_port}\n'
        f'security = "starttls"\nusername = "{sender}"\nundo_send_seconds = 0\n'
        "sent_copy = false\n"
    )
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#to").value = f"{recipient}@{mail_servers.domain}"
        screen.query_one("#subject").value = "written in the app"
        screen.query_one("#body").load_text("Hello from the composer.\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        for _ in range(600):
            items = outbox.items(app.conn)
            if items and items[0].state is outbox.OutboxState.SENT:
                break
            await pilot.pause(0.1)
        (item,) = outbox.items(app.conn)
        assert item.state is outbox.OutboxState.SENT
        await asyncio.to_thread(
            mail_servers.wait_for_message, recipient, item.message_id, timeout=60
        )


async def test_setup_checks_the_connection_with_the_typed_password(
    mail_servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Button, Input, Select

    from tuimail.config.schema import Config
    from tuimail.ui.screens.setup import AccountSetupScreen

    monkeypatch.setenv("TUIMAIL_CONFIG", str(tmp_path / "config.toml"))
    user = mail_servers.add_user("appsetup")
    app = TuimailApp(Config(), tmp_path / "data", start_workers=False, offer_setup=True)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AccountSetupScreen)
        values = {
            "name": "probe",
            "address": f"{user}@{mail_servers.domain}",
            "in_host": mail_servers.host,
            "in_port": str(mail_servers.imaps_port),
            "username": user,
            "password": "wrong password",
            "ca_file": str(mail_servers.ca_file),
        }
        # Sign in with a typed password (without a keyring here, a command is preselected).
        screen.query_one("#auth", Select).value = "password"
        await pilot.pause()
        for field, value in values.items():
            screen.query_one(f"#{field}", Input).value = value
        report = screen.query_one("#report", Static)
        screen.query_one("#check", Button).press()
        await wait_for(pilot, lambda: "IMAP:" in str(report.render()))
        assert "wrong user name or password" in str(report.render())

        screen.query_one("#password", Input).value = mail_servers.users[user]
        screen.query_one("#check", Button).press()
        # (Without a keyring here, the report goes on to say the password could not be kept.)
        await wait_for(pilot, lambda: str(report.render()).startswith("IMAP: ok"))
    assert not (tmp_path / "config.toml").exists()  # checking saves nothing


async def test_a_message_taken_back_is_kept_as_a_draft_and_delivered_when_sent_again(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    """Undo send, then escape: the message is a draft with its attachment (whose file is gone
    by then); reopened from the Drafts view and sent, it reaches the recipient with the
    attachment's bytes unchanged."""
    from email import message_from_bytes, policy

    from textual.widgets import Input, OptionList

    from tuimail.store import drafts
    from tuimail.ui.screens.composer import ComposerScreen
    from tuimail.ui.screens.drafts import DraftsScreen
    from tuimail.ui.screens.main import MainScreen
    from tuimail.ui.screens.outbox import OutboxScreen
    from tuimail.ui.screens.prompt import LinePrompt
    from tuimail.ui.widgets.folder_pane import DRAFTS

    sender = mail_servers.add_user("apptake")
    bob = mail_servers.add_user("appbob")
    password = shlex.quote(mail_servers.users[sender])
    config = parse_config(
        "[accounts.acct]\n"
        f'address = "{sender}@{mail_servers.domain}"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        "[accounts.acct.smtp]\n"
        f'host = "{mail_servers.host}"\nport = {mail_servers.submission_port}\n'
        f'security = "starttls"\nusername = "{sender}"\nundo_send_seconds = 8\n'
        "sent_copy = false\n"
    )
    payload = bytes(range(256)) * 1000 + b"\r\n\x00 the end"
    attachment = tmp_path / "plan.bin"
    attachment.write_bytes(payload)
    app = TuimailApp(config, tmp_path / "data")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press(*f"{bob}@{mail_servers.domain}", "tab")  # Subject: Cc, Bcc hidden
        await pilot.press(*"the plan", "tab", *"Here it is.")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, LinePrompt)
        app.screen.query_one(Input).value = str(attachment)
        await pilot.press("enter")
        await pilot.press("ctrl+s")
        await pilot.pause()
        (queued,) = outbox.items(app.conn)
        attachment.unlink()

        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert outbox.items(app.conn) == []
        (kept,) = drafts.live(app.conn)
        assert kept.message_id == queued.message_id
        [part] = drafts.stored_part_bodies(app.conn, kept.draft)
        assert part.filename == "plan.bin" and part.data == payload

        folders = app.screen.query_one("#folders", OptionList)
        folders.focus()
        folders.highlighted = folders.get_option_index(DRAFTS)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DraftsScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await wait_for(
            pilot,
            lambda: [i.state for i in outbox.items(app.conn)] == [outbox.OutboxState.SENT],
            seconds=90,
        )
    uid = await asyncio.to_thread(mail_servers.wait_for_message, bob, queued.message_id, timeout=60)
    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(bob, mail_servers.users[bob])
        client.select_folder("INBOX", readonly=True)
        raw = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    received = message_from_bytes(raw, policy=policy.default)
    assert received["Subject"] == "the plan"
    [got] = received.iter_attachments()
    assert got.get_filename() == "plan.bin"
    assert got.get_payload(decode=True) == payload


async def test_reply_to_a_message_not_yet_downloaded_opens_once_its_text_is_here(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    """r pressed before the message's text arrived (a headers-only sync): the app downloads it
    and opens the reply, instead of asking the user to try again."""
    from tuimail.ui.screens.composer import ComposerScreen

    user = mail_servers.add_user("appreply")
    mail_servers.deliver(user, numbered_message(8))
    config = parse_config(
        account_config_text(mail_servers, user, "imap", mail_servers.imaps_port)
        + f'[accounts.acct.smtp]\nhost = "{mail_servers.host}"\nport = {mail_servers.smtps_port}\n'
        f'username = "{user}"\n'
    )
    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)
    app = TuimailApp(config, tmp_path, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        app.screen.query_one(MessageList).focus()
        await pilot.press("r")  # at once: the text is not local yet
        await wait_for(pilot, lambda: isinstance(app.screen, ComposerScreen))
        body = app.screen.query_one("TextArea").text
        assert "> Body number 8." in body
        assert app.screen.query_one("#subject").value == "Re: app test 8"
