"""Marked messages against the real Dovecot, driven by keys: three messages marked and moved end
up in the target folder on the server and in the store, and marking a folder read sets \\Seen
on every message of it on the server with one STORE."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path

import imapclient
import pytest

from tests.support.app_mail import numbered_message
from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.config.schema import Config
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration


def _config(mail_servers: MailServers, user: str, proxy) -> Config:
    """The account reached through a recording proxy, in plain text (Dovecot allows a plaintext
    login from loopback), so that the commands can be counted."""
    password = shlex.quote(mail_servers.users[user])
    return parse_config(
        f"[accounts.acct]\n"
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"[accounts.acct.imap]\n"
        f'host = "{proxy.host}"\nport = {proxy.port}\nsecurity = "none"\n'
        f'username = "{user}"\n'
    )


def _commands(proxy, name: str) -> int:
    """How many `name` commands (plain or UID) the app sent."""
    pattern = re.compile(rf"^\S+ (UID )?{name}\b", re.IGNORECASE)
    lines = proxy.from_client.decode("utf-8", "replace").split("\r\n")
    return sum(1 for line in lines if pattern.match(line))


def _client(mail_servers: MailServers, user: str) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(
        mail_servers.host,
        mail_servers.imaps_port,
        ssl_context=mail_servers.client_ssl_context(),
        timeout=20,
    )
    client.login(user, mail_servers.users[user])
    return client


def _subjects(mail_servers: MailServers, user: str, folder: str) -> list[str]:
    """The subjects of the messages in `folder` not marked \\Deleted, asked of Dovecot."""
    with _client(mail_servers, user) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search(["NOT", "DELETED"])
        found = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if uids else {}
        return sorted(
            data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
            for data in found.values()
        )


def _unseen(mail_servers: MailServers, user: str, folder: str) -> int:
    with _client(mail_servers, user) as client:
        client.select_folder(folder, readonly=True)
        return len(client.search(["UNSEEN"]))


def _stored_subjects(data_dir: Path, folder: str) -> list[str]:
    conn = open_store(data_dir)
    try:
        info = next(f for f in read.folders(conn) if f.name == folder)
        rows = read.rows(conn, read.message_ids(conn, [info.id]))
        return sorted(row.envelope.subject for row in rows)
    finally:
        conn.close()


async def _until(pilot, check) -> None:
    """Wait (bounded) until `check()`, run in a thread (it asks the server), holds."""
    for _ in range(600):
        if await asyncio.to_thread(check):
            return
        await pilot.pause(0.1)
    raise AssertionError("the server did not get there in time")


async def test_three_marked_messages_moved_are_in_the_target_on_the_server_and_the_store(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appmarks")
    for number in range(1, 7):
        mail_servers.deliver(user, numbered_message(number))
    with _client(mail_servers, user) as client:
        client.create_folder("Projects")
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    app = TuimailApp(_config(mail_servers, user, proxy), tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        messages = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(messages.ids) == 6)
        messages.focus()
        await pilot.press("j", "v", "j", "v", "v")  # the 2nd, 4th and 5th: newest first
        chosen = sorted(row.envelope.subject for row in read.rows(app.conn, messages.marked_ids()))
        assert chosen == ["app test 2", "app test 3", "app test 5"]
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, FolderPicker)
        await pilot.press(*"proj", "enter")
        await _until(pilot, lambda: _subjects(mail_servers, user, "Projects") == chosen)
        assert _commands(proxy, "MOVE") == 1, "one UID MOVE for the three"
        await wait_for(pilot, lambda: _stored_subjects(tmp_path, "Projects") == chosen)
    left = ["app test 1", "app test 4", "app test 6"]
    assert _subjects(mail_servers, user, "INBOX") == left
    assert _stored_subjects(tmp_path, "INBOX") == left
    conn = open_store(tmp_path)
    try:
        projects = next(f for f in read.folders(conn) if f.name == "Projects")
        rows = read.rows(conn, read.message_ids(conn, [projects.id]))
        assert all(row.uid is not None for row in rows), "the store knows their server UIDs"
    finally:
        conn.close()


async def test_mark_all_read_sets_seen_on_the_server_with_one_store(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appallread")
    for number in range(1, 13):
        mail_servers.deliver(user, numbered_message(number))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    app = TuimailApp(_config(mail_servers, user, proxy), tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        messages = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(messages.ids) == 12)
        messages.focus()
        assert await asyncio.to_thread(_unseen, mail_servers, user, "INBOX") == 12
        stores = _commands(proxy, "STORE")
        await pilot.press("M")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await _until(pilot, lambda: _unseen(mail_servers, user, "INBOX") == 0)
        assert _commands(proxy, "STORE") == stores + 1, "one STORE for the whole folder"
        sent = proxy.from_client.decode("utf-8", "replace")
        assert re.search(r"UID STORE 1:12 \+FLAGS\.SILENT \(\\Seen\)", sent, re.IGNORECASE)
