"""Folder roles from SPECIAL-USE attributes that a server sends only when asked (RFC 6154:
`LIST "" "*" RETURN (SPECIAL-USE)`; Cyrus with `specialusealways: no`), and from names where the
server has no SPECIAL-USE.

Dovecot sends the attributes to every LIST, so the fault proxy takes them out of the answers to
a plain LIST (`SpecialUseOnRequest`); the Dovecot behind it is laid out as Cyrus is, with the
Sent folder called "Gesendete Elemente" and a folder "Sent" of the user's own beside it.
"""

from __future__ import annotations

from pathlib import Path

import imapclient
import pytest

from tests.support.dovecot import DovecotServer
from tests.support.imap_sync import (
    FaultProxyFactory,
    ReducedDovecot,
    commands_sent,
    proxied,
    run_sync,
)
from tests.support.mailservers import MailServers
from tests.support.proxy import Faults, SpecialUseOnRequest
from tests.support.special_use import send_with_imap_elsewhere
from tuimail.core.model import FolderRole
from tuimail.store import read
from tuimail.store.db import open_store

pytestmark = pytest.mark.integration


def roles(data: Path) -> dict[str, FolderRole]:
    conn = open_store(data)
    try:
        return {f.name: f.role for f in read.folders(conn)}
    finally:
        conn.close()


def list_commands(proxy: object) -> list[str]:
    return [line.split(" ", 1)[1] for line in commands_sent(proxy) if " LIST " in line.upper()]  # type: ignore[arg-type]


def test_special_use_is_asked_for_and_wins_over_a_folder_named_sent(
    cyrus_like_dovecot: DovecotServer, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    hook = SpecialUseOnRequest()
    box, proxy = proxied(
        cyrus_like_dovecot,
        fault_proxy,
        client=Faults(rewrite_line=hook.client),
        server=Faults(rewrite_line=hook.server),
    )
    with box.device() as device:
        device.create_folder("INBOX.Sent")
    # The proxy does hide the attributes from a plain LIST (what tuimail used to ask).
    with imapclient.IMAPClient(proxy.host, proxy.port, ssl=False, timeout=20) as plain:
        plain.login(box.user, box.password)
        listed = {name: flags for flags, _, name in plain.list_folders()}
    assert b"\\Sent" not in listed["INBOX.Gesendete Elemente"] and hook.stripped >= 5

    run_sync(box, tmp_path / "data")

    found = roles(tmp_path / "data")
    assert found["INBOX.Gesendete Elemente"] is FolderRole.SENT
    assert found["INBOX.Sent"] is FolderRole.NONE, "a name never beats the server's word"
    assert found["INBOX.Trash"] is FolderRole.TRASH and found["INBOX.Drafts"] is FolderRole.DRAFTS
    # The subscriptions come in the same LIST (LIST-EXTENDED).
    assert 'LIST "" "*" RETURN (SUBSCRIBED SPECIAL-USE)' in list_commands(proxy)


def test_a_server_refusing_the_return_option_gets_a_plain_list(
    cyrus_like_dovecot: DovecotServer, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    # A server with SPECIAL-USE but without LIST-EXTENDED's syntax answers BAD: here the proxy
    # turns the option into one Dovecot does not know.
    def unknown_option(line: bytes) -> bytes:
        return line.replace(b"RETURN (SUBSCRIBED SPECIAL-USE)", b"RETURN (X-NO-SUCH-OPTION)")

    box, proxy = proxied(
        cyrus_like_dovecot, fault_proxy, client=Faults(rewrite_line=unknown_option)
    )

    result = run_sync(box, tmp_path / "data")

    assert not result.folder_errors
    assert list_commands(proxy) == ['LIST "" "*" RETURN (SUBSCRIBED SPECIAL-USE)', 'LIST "" "*"']
    assert any(line.split(" ", 1)[1].startswith("LSUB") for line in commands_sent(proxy))
    assert roles(tmp_path / "data")["INBOX.Gesendete Elemente"] is FolderRole.SENT


def test_without_special_use_a_plain_list_and_roles_by_name(
    reduced_dovecot: ReducedDovecot, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    server = reduced_dovecot(without={"SPECIAL-USE"})
    box, proxy = proxied(server, fault_proxy)

    run_sync(box, tmp_path / "data")

    # LIST-EXTENDED is still there: the subscriptions, not the special use, are asked for.
    assert list_commands(proxy) == ['LIST "" "*" RETURN (SUBSCRIBED)']
    found = roles(tmp_path / "data")
    assert found["Sent"] is FolderRole.SENT and found["Trash"] is FolderRole.TRASH


def test_a_sent_copy_before_any_sync_goes_to_the_folder_the_server_calls_sent(
    mail_servers: MailServers,
    cyrus_like_dovecot: DovecotServer,
    fault_proxy: FaultProxyFactory,
    tmp_path: Path,
) -> None:
    # The store knows no Sent folder yet: the sender asks the server, as the sync does.
    hook = SpecialUseOnRequest()
    proxy = fault_proxy(
        cyrus_like_dovecot.host,
        cyrus_like_dovecot.imap_port,
        client=Faults(rewrite_line=hook.client),
        server=Faults(rewrite_line=hook.server),
    )
    user = cyrus_like_dovecot.add_user("sentcopy")
    context = cyrus_like_dovecot.client_ssl_context()
    with imapclient.IMAPClient(
        cyrus_like_dovecot.host, cyrus_like_dovecot.imaps_port, ssl_context=context
    ) as device:
        device.login(user, cyrus_like_dovecot.users[user])
        device.create_folder("INBOX.Sent")

    message_id = send_with_imap_elsewhere(
        mail_servers, cyrus_like_dovecot, user, proxy.port, tmp_path
    )

    assert cyrus_like_dovecot.find_message(user, message_id, "INBOX.Gesendete Elemente")
    assert not cyrus_like_dovecot.find_message(user, message_id, "INBOX.Sent")
