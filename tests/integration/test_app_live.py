"""The app's live IMAP session against the real Dovecot, driven by keys: what a user does in a
sitting (opening messages, flagging one, deleting one) goes over one connection and one login,
and new mail in a folder other than INBOX appears with no pass over the account."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path

import imapclient
import pytest
from textual.widgets import Static

from tests.support.app_mail import numbered_message
from tests.support.dovecot import DovecotServer
from tests.support.imap_sync import ReducedDovecot
from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tests.support.proxy import FaultProxy
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.ui.widgets.folder_pane import FolderPane
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration


def proxied_config(
    mail_servers: MailServers | DovecotServer,
    user: str,
    proxy: FaultProxy,
    extra: str = "",
    account: str = "",
):
    """The account reached through a recording proxy, in plain text (Dovecot allows a plaintext
    login from loopback), so that the commands can be counted. `extra`: more of the imap table;
    `account`: more of the account's."""
    password = shlex.quote(mail_servers.users[user])
    return parse_config(
        f"[accounts.acct]\n"
        f'address = "{user}@tuimail.test"\n{account}'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"[accounts.acct.imap]\n"
        f'host = "{proxy.host}"\nport = {proxy.port}\nsecurity = "none"\n'
        f'username = "{user}"\n{extra}'
    )


def commands(proxy: FaultProxy, name: str) -> int:
    pattern = re.compile(rf"^\S+ (UID )?{name}\b", re.IGNORECASE)
    lines = proxy.from_client.decode("utf-8", "replace").split("\r\n")
    return sum(1 for line in lines if pattern.match(line))


def server_state(mail_servers: MailServers, user: str) -> tuple[int, int, int]:
    """(messages in INBOX, of them flagged, messages in Trash), asked straight of Dovecot."""
    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
        flagged = sum(1 for f in flags.values() if b"\\Flagged" in f)
        trash = client.folder_status("Trash", [b"MESSAGES"])[b"MESSAGES"]
        return len(flags), flagged, int(trash)


def pane_lines(folders: FolderPane) -> list[str]:
    """The folder pane's entries as shown, spaces collapsed."""
    return [
        " ".join(str(folders.get_option_at_index(i).prompt).split())
        for i in range(folders.option_count)
    ]


async def test_ten_opens_a_flag_and_a_delete_log_in_once(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    user = mail_servers.add_user("applive")
    for number in range(1, 13):
        mail_servers.deliver(user, numbered_message(number))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    config = proxied_config(mail_servers, user, proxy, 'bodies = "none"\n')
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        body = app.screen.query_one("#view-body", Static)
        await wait_for(pilot, lambda: len(table.ids) == 12)
        table.focus()
        lists = commands(proxy, "LIST")
        for step in range(10):
            if step:
                await pilot.press("j")
            subject = table.row_at(table.cursor).envelope.subject  # type: ignore[union-attr]
            number = subject.rsplit(" ", 1)[1]
            await wait_for(pilot, lambda n=number: f"Body number {n}." in str(body.render()))
        await pilot.press("j", "F")
        await wait_for(pilot, lambda: commands(proxy, "STORE") >= 1)
        await pilot.press("j", "d")

        async def on_server() -> bool:
            return await asyncio.to_thread(server_state, mail_servers, user) == (11, 1, 1)

        for _ in range(300):
            if await on_server():
                break
            await pilot.pause(0.1)
        assert await on_server()
        assert commands(proxy, "LIST") == lists, "no folder list per action"
    assert len(proxy.connections) == 1, "one connection for the whole sitting"
    assert commands(proxy, "LOGIN") + commands(proxy, "AUTHENTICATE") == 1


async def test_new_mail_in_a_list_folder_appears_without_a_pass(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    user = mail_servers.add_user("applists")
    mail_servers.deliver(user, numbered_message(1))
    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        client.create_folder("Lists/dev")
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    app = TuimailApp(proxied_config(mail_servers, user, proxy), tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 1)
        folders = app.screen.query_one(FolderPane)
        await wait_for(pilot, lambda: "dev" in pane_lines(folders))
        await wait_for(pilot, lambda: commands(proxy, "IDLE") >= 1)
        lists = commands(proxy, "LIST")

        def deliver() -> None:
            with imapclient.IMAPClient(
                mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
            ) as client:
                client.login(user, mail_servers.users[user])
                client.append("Lists/dev", numbered_message(2))

        await asyncio.to_thread(deliver)
        # The folder pane counts the new, unread message of Lists/dev.
        await wait_for(pilot, lambda: "dev 1" in pane_lines(folders))
        assert commands(proxy, "LIST") == lists, "no pass over the account for news"


async def test_the_messages_after_a_resting_cursor_are_downloaded_before_they_are_opened(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appahead")
    for number in range(1, 7):
        mail_servers.deliver(user, numbered_message(number))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    config = proxied_config(mail_servers, user, proxy, 'bodies = "none"\n')
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 6)
        table.focus()
        await pilot.press("j")  # rest on the second message
        following = table.ids[2:5]

        def stored() -> bool:
            conn = open_store(tmp_path)
            try:
                return all(read.body(conn, m) is not None for m in following)
            finally:
                conn.close()

        await wait_for(pilot, stored)
        assert table.cursor == 1, "nothing but the cursor's rest asked for them"
        assert commands(proxy, "FETCH") >= 1
    # The last message, three away from the cursor, was not asked for.
    conn = open_store(tmp_path)
    try:
        assert read.body(conn, table.ids[5]) is None
    finally:
        conn.close()


async def test_new_mail_in_a_long_list_folder_shows_at_the_top(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    """The folder shown holds more messages than the screen: the new one, the newest, comes
    into view at the top while the first row is highlighted."""
    user = mail_servers.add_user("applong")
    context = mail_servers.client_ssl_context()

    def client() -> imapclient.IMAPClient:
        connection = imapclient.IMAPClient(
            mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
        )
        connection.login(user, mail_servers.users[user])
        return connection

    with client() as direct:
        direct.create_folder("Lists/dev")
        for number in range(60):
            old = (
                numbered_message(number % 28 + 1)
                .replace(b"Subject: app test", b"Subject: old list mail")
                .replace(b"Message-ID: <app-", f"Message-ID: <old{number}-".encode())
            )
            direct.append("Lists/dev", old)
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    app = TuimailApp(proxied_config(mail_servers, user, proxy), tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        folders = app.screen.query_one(FolderPane)
        await wait_for(pilot, lambda: "dev 60" in pane_lines(folders))
        await wait_for(pilot, lambda: app.engines.watching("acct"))
        dev = next(f.id for f in read.folders(app.conn) if f.name == "Lists/dev")
        app.screen.show_place((dev,))
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 60)
        assert table.cursor == 0

        def deliver() -> None:
            with client() as direct:
                direct.append(
                    "Lists/dev",
                    b"From: Carol <carol@tuimail.test>\r\nSubject: fresh on the list\r\n"
                    b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <fresh@x>\r\n"
                    b"\r\nNew.\r\n",
                )

        await asyncio.to_thread(deliver)
        await wait_for(pilot, lambda: len(table.ids) == 61)
        await pilot.pause()
        top = table.row_at(round(table.scroll_offset.y))
        assert top is not None and top.envelope.subject == "fresh on the list"


def status_of(proxy: FaultProxy, folder: str) -> int:
    """STATUS commands for `folder` the client sent through the proxy."""
    pattern = re.compile(rf'^\S+ STATUS "?{re.escape(folder)}"? ', re.IGNORECASE)
    lines = proxy.from_client.decode("utf-8", "replace").split("\r\n")
    return sum(1 for line in lines if pattern.match(line))


async def test_without_notify_mail_in_a_notify_folder_comes_by_its_own_idle(
    reduced_dovecot: ReducedDovecot, fault_proxy, tmp_path: Path
) -> None:
    """On a server with IDLE but no NOTIFY, a folder of `notify_folders` has a connection of its
    own that IDLEs there: its new mail shows without that folder's STATUS being asked, and the
    connection ends when the app does."""
    server = reduced_dovecot(without={"NOTIFY"})
    user = server.add_user("appwatch")
    server.deliver(user, numbered_message(1))
    context = server.client_ssl_context()

    def deliver(create: bool = False) -> None:
        with imapclient.IMAPClient(
            server.host, server.imaps_port, ssl_context=context, timeout=20
        ) as client:
            client.login(user, server.users[user])
            if create:
                client.create_folder("Lists/dev")
            else:
                client.append("Lists/dev", numbered_message(2))

    deliver(create=True)
    proxy = fault_proxy(server.host, server.imap_port)
    config = proxied_config(server, user, proxy, account='notify_folders = ["INBOX", "Lists/*"]\n')
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        folders = app.screen.query_one(FolderPane)
        await wait_for(pilot, lambda: "dev" in pane_lines(folders))

        # The folder's own connection idles on it; the session's waits for news.
        def watched() -> bool:
            return len(proxy.connections) == 2 and b" IDLE\r\n" in proxy.connections[1].from_client

        await wait_for(pilot, watched)
        await wait_for(pilot, lambda: app.engines.watching("acct"))
        asked = status_of(proxy, "Lists/dev")
        await asyncio.to_thread(deliver)
        await wait_for(pilot, lambda: "dev 1" in pane_lines(folders))
        assert status_of(proxy, "Lists/dev") == asked, "the news came by IDLE, not by STATUS"
        assert commands(proxy, "NOTIFY") == 0
    assert len(proxy.connections) == 2, "the session's connection and Lists/dev's"
    for connection in proxy.connections:
        assert connection.closed.wait(30), "the connections end with the app"
