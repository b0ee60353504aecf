"""Folders created, renamed, deleted, subscribed to and unsubscribed from with the folder pane's
keys in the running app: each reaches the real Dovecot through the account's live session, and
the store agrees."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import imapclient
import pytest

from tests.support.app_mail import account_config, account_config_text, numbered_message
from tests.support.folder_keys import answer, highlight, to_pane
from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.store import folder_ops, read
from tuimail.sync.events import discard
from tuimail.sync.imap.account import sync_account
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.widgets.folder_pane import FolderPane
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.integration


@contextmanager
def logged_in(mail_servers: MailServers, user: str) -> Iterator[imapclient.IMAPClient]:
    """`user`'s own IMAP connection to the test Dovecot (what another mail program sees)."""
    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        yield client


def server_folders(mail_servers: MailServers, user: str) -> set[str]:
    with logged_in(mail_servers, user) as client:
        return {str(name) for _flags, _delim, name in client.list_folders()}


async def test_create_rename_delete_with_the_keys_reach_the_server(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appfolders")
    mail_servers.deliver(user, numbered_message(1))
    with logged_in(mail_servers, user) as client:
        client.create_folder("Old lists")
        client.append("Old lists", numbered_message(2))
    config = account_config(mail_servers, user, "imap", mail_servers.imaps_port)

    async def on_server(check) -> None:  # type: ignore[no-untyped-def]
        for _ in range(300):
            if check(await asyncio.to_thread(server_folders, mail_servers, user)):
                return
            await pilot.pause(0.1)
        raise AssertionError("the server did not follow")

    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(
            pilot, lambda: any(f.name == "Old lists" and f.total for f in read.folders(app.conn))
        )
        pane = await to_pane(pilot, app)

        await pilot.press("ctrl+n")
        await pilot.pause()
        await answer(pilot, app, "Projects")
        await on_server(lambda names: "Projects" in names)

        await highlight(pilot, pane, "Projects")
        await pilot.press("E")
        await pilot.pause()
        await answer(pilot, app, "Plans")
        await on_server(lambda names: "Plans" in names and "Projects" not in names)

        await highlight(pilot, pane, "Old lists")
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, Confirm) and "the 1 message in it" in app.screen.question
        await pilot.press("y")
        await on_server(lambda names: "Old lists" not in names)

        account = read.account_id(app.conn, "acct")
        assert account is not None
        await wait_for(pilot, lambda: folder_ops.pending(app.conn, account) == [])
        assert folder_ops.failed(app.conn, account) == []
        shown = {f.name for f in read.folders(app.conn, account)}
        assert shown == await asyncio.to_thread(server_folders, mail_servers, user)
        await pilot.press("q")


async def test_offline_the_pane_changes_at_once_and_the_server_follows_later(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appfoldersoff")
    mail_servers.deliver(user, numbered_message(1))
    config = account_config(mail_servers, user, "imap", mail_servers.imaps_port)
    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)

    app = TuimailApp(config, tmp_path, offline=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        pane = await to_pane(pilot, app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await answer(pilot, app, "Later")
        lines = [str(pane.get_option_at_index(i).prompt) for i in range(pane.option_count)]
        assert any(line.strip() == "Later" for line in lines), "shown at once"
        assert "1 pending" in str(app.screen.query_one(StatusBar).render())
        await pilot.press("q")
    assert "Later" not in await asyncio.to_thread(server_folders, mail_servers, user)

    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)
    assert "Later" in await asyncio.to_thread(server_folders, mail_servers, user)


def server_subscribed(mail_servers: MailServers, user: str) -> set[str]:
    with logged_in(mail_servers, user) as client:
        return {str(name) for _flags, _delim, name in client.list_sub_folders()}


def pane_lines(pane: FolderPane) -> list[str]:
    return [str(pane.get_option_at_index(i).prompt).strip() for i in range(pane.option_count)]


async def test_subscribe_with_the_keys_and_only_subscribed_folders_shown_and_synced(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appsubs")
    mail_servers.deliver(user, numbered_message(1))
    with logged_in(mail_servers, user) as client:
        for name in ("Old", "Projects"):
            client.create_folder(name)
            client.append(name, numbered_message(2 if name == "Old" else 3))
        client.unsubscribe_folder("Old")
        client.subscribe_folder("Projects")
    text = account_config_text(mail_servers, user, "imap", mail_servers.imaps_port)
    config = parse_config(text + "subscribed_only = true\n")

    def append_to(folder: str, raw: bytes) -> None:
        with logged_in(mail_servers, user) as client:
            client.append(folder, raw)

    async def on_server(check) -> None:  # type: ignore[no-untyped-def]
        for _ in range(300):
            if check(await asyncio.to_thread(server_subscribed, mail_servers, user)):
                return
            await pilot.pause(0.1)
        raise AssertionError("the server did not follow")

    def total(name: str) -> int:
        return next((f.total for f in read.folders(app.conn) if f.name == name), -1)

    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: total("Projects") == 1)
        pane = await to_pane(pilot, app)
        assert "Old" not in pane_lines(pane), "not subscribed: not shown"
        assert total("Old") == 0, "nor synced"
        # New mail while the app runs: the subscribed folder's comes, the other's is not
        # watched for (it arrives first, so waiting for Projects' gives it its chance).
        await asyncio.to_thread(append_to, "Old", numbered_message(4))
        await asyncio.to_thread(append_to, "Projects", numbered_message(5))
        await wait_for(pilot, lambda: total("Projects") == 2)
        await pilot.pause(0.5)
        assert total("Old") == 0, "nor watched"

        await pilot.press("T")  # every folder, marked
        await pilot.pause()
        lines = pane_lines(pane)
        assert "○ Old" in lines and "● Projects 2" in lines and "● INBOX 1" in lines
        await highlight(pilot, pane, "Old")
        await pilot.press("S")
        await on_server(lambda names: "Old" in names)
        # Synced now, with the mail that came meanwhile.
        await wait_for(pilot, lambda: total("Old") == 2)
        assert "● Old 2" in pane_lines(pane)

        await pilot.press("T")  # the usual list: Old is in it now
        await pilot.pause()
        assert "Old 2" in pane_lines(pane)
        await highlight(pilot, pane, "Projects")
        await pilot.press("S")
        await pilot.pause()
        assert "Projects 2" not in pane_lines(pane), "unsubscribed: gone from the list"
        projects = next(f.id for f in read.folders(app.conn) if f.name == "Projects")
        assert app.screen.current_place != (projects,), "nor shown in the message list"
        await on_server(lambda names: "Projects" not in names and "Old" in names)

        # A move from the inbox offers the folders the pane shows, not the unsubscribed one.
        await highlight(pilot, pane, "INBOX")
        await pilot.press("enter")  # the inbox's list
        await wait_for(pilot, lambda: app.screen.query_one(MessageList).has_focus)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, FolderPicker))
        assert isinstance(app.screen, FolderPicker)
        offered = {folder.name for folder in app.screen.folders}
        assert "Old" in offered and "Projects" not in offered and "INBOX" not in offered
        await pilot.press("escape")
        await pilot.press("q")
