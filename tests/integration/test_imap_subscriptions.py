"""Folder subscriptions against the real Dovecot: read with the folder list (`RETURN
(SUBSCRIBED)`, or LSUB from a server without LIST-EXTENDED), changed offline first and replayed,
and `imap.subscribed_only` leaving the unsubscribed folders out of the sync and its bodies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.imap_sync import (
    ACCOUNT,
    FaultProxyFactory,
    Mailbox,
    Server,
    append,
    engine_on,
    folder_id,
    proxied,
    run_sync,
)
from tests.support.proxy import Faults, hide_capability
from tuimail.core.model import FolderRole
from tuimail.store import folder_ops, read
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.events import ActionsGivenUp, Event, given_up_text

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreConnection]:
    conn = open_store(tmp_path)
    yield conn
    conn.close()


def server_subscribed(box: Mailbox) -> set[str]:
    with box.device() as device:
        return {str(name) for _flags, _delim, name in device.list_sub_folders()}


def with_folders(box: Mailbox) -> None:
    """Old (3 messages) and Lists/dev (2) not subscribed, Projects (2) subscribed."""
    with box.device() as device:
        for name in ("Old", "Lists", "Lists/dev", "Projects"):
            device.create_folder(name)
        device.subscribe_folder("Projects")
        for name in ("Old", "Lists", "Lists/dev"):
            device.unsubscribe_folder(name)  # Dovecot may subscribe what CREATE made
    append(box, 3, folder="Old")
    append(box, 2, folder="Lists/dev", start=10)
    append(box, 2, folder="Projects", start=20)


def subscriptions(conn: StoreConnection) -> dict[str, bool | None]:
    account = read.account_id(conn, ACCOUNT)
    assert account is not None
    return {f.name: f.subscribed for f in read.folders(conn, account)}


def test_subscriptions_come_with_the_list_and_the_users_go_to_the_server(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    with_folders(box)
    run_sync(box, tmp_path)
    known = subscriptions(store)
    assert (known["INBOX"], known["Projects"], known["Old"], known["Lists/dev"]) == (
        True,
        True,
        False,
        False,
    )
    assert b"RETURN (SUBSCRIBED" in proxy.from_client, "in the LIST itself: no LSUB"
    assert b"LSUB" not in proxy.from_client

    # Offline: the store changes at once, and a folder list before the replay keeps it.
    folder_ops.subscribe(store, folder_id(store, "Old"), True)
    folder_ops.subscribe(store, folder_id(store, "Projects"), False)
    with engine_on(box, store) as engine:
        engine.sync_folders()
    assert (subscriptions(store)["Old"], subscriptions(store)["Projects"]) == (True, False)
    assert "Old" not in server_subscribed(box)

    run_sync(box, tmp_path)  # the replay, then the list
    on_server = server_subscribed(box)
    assert "Old" in on_server and "Projects" not in on_server
    assert (subscriptions(store)["Old"], subscriptions(store)["Projects"]) == (True, False)
    account = read.account_id(store, ACCOUNT)
    assert account is not None and folder_ops.pending(store, account) == []

    # Another client changes them: the next list says so.
    with box.device() as device:
        device.subscribe_folder("Lists/dev")
    run_sync(box, tmp_path)
    assert subscriptions(store)["Lists/dev"] is True


def test_a_server_without_list_extended_is_asked_lsub(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, proxy = proxied(
        mail_servers, fault_proxy, server=Faults(rewrite_line=hide_capability("LIST-EXTENDED"))
    )
    with_folders(box)
    run_sync(box, tmp_path)
    assert b"LSUB" in proxy.from_client and b"RETURN (SUBSCRIBED" not in proxy.from_client
    known = subscriptions(store)
    assert (known["Projects"], known["Old"], known["Lists/dev"]) == (True, False, False)


def test_subscribed_only_leaves_the_unsubscribed_folders_unsynced(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, _proxy = proxied(mail_servers, fault_proxy)
    with_folders(box)
    result = run_sync(box, tmp_path, bodies=True, subscribed_only=True)
    synced = {read.folder(store, f.folder_id).name for f in result.folders}  # type: ignore[union-attr]
    assert {"INBOX", "Projects"} <= synced
    assert not synced & {"Old", "Lists/dev"}
    assert len(read.message_ids(store, folder_id(store, "Projects"))) == 2
    assert read.message_ids(store, folder_id(store, "Old")) == []
    assert read.message_ids(store, folder_id(store, "Lists/dev")) == []

    # Subscribed elsewhere: the next pass syncs it.
    with box.device() as device:
        device.subscribe_folder("Old")
    run_sync(box, tmp_path, subscribed_only=True)
    assert len(read.message_ids(store, folder_id(store, "Old"))) == 3


def test_subscribed_only_downloads_no_bodies_of_an_unsubscribed_folder(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    """Headers cached while every folder was synced; then only subscribed ones: the bodies a
    policy wants come from those alone."""
    box, _proxy = proxied(mail_servers, fault_proxy)
    with_folders(box)
    run_sync(box, tmp_path)  # every folder's headers, no bodies
    old = folder_id(store, "Old")
    assert len(read.message_ids(store, old)) == 3
    run_sync(box, tmp_path, bodies=True, subscribed_only=True)
    assert all(read.body(store, m) is None for m in read.message_ids(store, old))
    projects = read.message_ids(store, folder_id(store, "Projects"))
    assert projects and all(read.body(store, m) is not None for m in projects)


def test_the_inbox_and_special_folders_are_synced_whatever_their_subscription(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, _proxy = proxied(mail_servers, fault_proxy)
    with_folders(box)
    with box.device() as device:
        device.unsubscribe_folder("INBOX")
    run_sync(box, tmp_path)
    with engine_on(box, store, subscribed_only=True) as engine:
        folders = {f.name: f for f in read.folders(store, engine.account_id)}
        assert folders["INBOX"].subscribed is True, "the inbox counts as subscribed"
        # A special folder the user unsubscribed from (the test server subscribes them all).
        trash = folders["Trash"]
        assert trash.role is FolderRole.TRASH
        assert engine.syncs(replace(trash, subscribed=False))
        assert not engine.syncs(folders["Old"])
        assert engine.syncs(folders["Projects"])
        listed = [f.name for f in engine.sync_folders()]
        assert listed[0] == "INBOX" and "Old" not in listed and "Trash" in listed


def test_a_refused_subscribe_is_given_up_told_and_the_servers_list_shown(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    def refuse_subscribe(line: bytes) -> bytes:
        tag, _, rest = line.partition(b" ")
        if rest.upper().startswith(b"OK SUBSCRIBE"):
            return tag + b" NO [CANNOT] Subscriptions are kept by the administrator\r\n"
        return line

    box, _proxy = proxied(mail_servers, fault_proxy, server=Faults(rewrite_line=refuse_subscribe))
    with_folders(box)
    run_sync(box, tmp_path)
    folder_ops.subscribe(store, folder_id(store, "Old"), True)
    events: list[Event] = []
    run_sync(box, tmp_path, emit=events.append)
    words = [given_up_text(a) for e in events if isinstance(e, ActionsGivenUp) for a in e.actions]
    assert len(words) == 1 and "Subscribing to the folder Old was not carried out" in words[0]
    assert "kept by the administrator" in words[0]
    # The proxy changed only the answer: whatever the server did, the store shows it.
    assert subscriptions(store)["Old"] is ("Old" in server_subscribed(box))
    account = read.account_id(store, ACCOUNT)
    assert account is not None and folder_ops.pending(store, account) == []
