"""COMPRESS=DEFLATE (RFC 4978) against the real Dovecot: negotiated after login where offered,
the wire compressed from the server's OK on (read through the fault proxy, which records the
bytes and inflates them for the conversation), and the app's sync, body download and IDLE all
working over it; a server without COMPRESS, one that announces it and refuses it, an account
that turns it off, and the default ("auto") over loopback all work uncompressed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import shlex
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.support.app_mail import numbered_message, place_cursor_on
from tests.support.ca import CertificateAuthority
from tests.support.dovecot import DovecotServer, start_dovecot
from tests.support.imap_sync import (
    FaultProxyFactory,
    Mailbox,
    ReducedDovecot,
    Server,
    append,
    proxied,
    run_sync,
    server_view,
    store_view,
)
from tests.support.mailservers import (
    MailServers,
    discard_server_directory,
    new_server_directory,
)
from tests.support.pilot import wait_for
from tests.support.proxy import FaultProxy, ProxiedConnection
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.config.schema import ConfigError
from tuimail.store.db import open_store
from tuimail.sync.imap.connect import connect_imap
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration

COMPRESS_COMMAND = re.compile(rb"^(\S+) COMPRESS DEFLATE\r\n", re.MULTILINE)


def compressed_part(conn: ProxiedConnection) -> tuple[bytes, bytes]:
    """The bytes each side sent after compression began, as they crossed the wire: the
    client's after its COMPRESS command, the server's after its OK to it."""
    command = COMPRESS_COMMAND.search(conn.raw_from_client)
    assert command is not None, "the client never asked for COMPRESS"
    ok = re.search(
        rb"^" + re.escape(command.group(1)) + rb" OK[^\n]*\n", conn.raw_from_server, re.M
    )
    assert ok is not None, "the server did not accept COMPRESS"
    return bytes(conn.raw_from_client[command.end() :]), bytes(conn.raw_from_server[ok.end() :])


def assert_compressed(conn: ProxiedConnection, *words: bytes) -> None:
    """The connection was compressed: the wire after COMPRESS is the raw deflate stream of the
    rest of the conversation (the proxy, with no faults, forwards it as it came), which has each
    of `words`, none of them in the clear on the wire."""
    assert conn.compressed
    client_wire, server_wire = compressed_part(conn)
    inflated = b""
    for wire, text in ((client_wire, conn.from_client), (server_wire, conn.from_server)):
        part = zlib.decompressobj(wbits=-15).decompress(wire)
        assert part and bytes(text).endswith(part)
        inflated += part
    for word in words:
        assert word in inflated, word
        assert word not in client_wire and word not in server_wire, word


def logins(proxy: FaultProxy) -> list[ProxiedConnection]:
    return [conn for conn in proxy.connections if b" LOGIN " in conn.from_client]


# --- the app, compressed end to end


def plain_account_text(
    servers: MailServers, user: str, proxy: FaultProxy, compress: str = "true"
) -> str:
    password = shlex.quote(servers.users[user])
    return (
        "[accounts.acct]\n"
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(servers.ca_file))}\n"
        "[accounts.acct.imap]\n"
        f'host = "{proxy.host}"\nport = {proxy.port}\nsecurity = "none"\nusername = "{user}"\n'
        f"compress = {compress}\n"
    )


async def test_the_app_syncs_opens_and_idles_over_compressed_connections(
    mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appzip")
    mail_servers.deliver(user, numbered_message(1))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    config = parse_config(plain_account_text(mail_servers, user, proxy))
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        body = app.screen.query_one("#view-body", Static)
        await wait_for(pilot, lambda: len(table.ids) == 1)
        # The body comes compressed too.
        await wait_for(pilot, lambda: "Body number 1." in str(body.render()))
        # The live session is in IDLE (Dovecot's go-ahead, as the proxy inflated it) ...
        await wait_for(pilot, lambda: b"+ idling" in proxy.from_server)
        # ... when new mail, delivered over LMTP: its compressed IDLE hears of it.
        await asyncio.to_thread(mail_servers.deliver, user, numbered_message(2))
        await wait_for(pilot, lambda: len(table.ids) == 2)
        place_cursor_on(app, "app test 2")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Body number 2." in str(body.render()))
    connections = logins(proxy)
    assert len(connections) == 1  # the live session: the sync, the bodies and IDLE
    for conn in connections:
        assert_compressed(conn, b"UID FETCH", b"EXISTS")
    conversation = b"".join(conn.from_client + conn.from_server for conn in connections)
    for said in (b" IDLE\r\n", b"DONE\r\n", b"Body number 1.", b"Body number 2."):
        assert said in conversation, said
    idle = next(conn for conn in connections if b" IDLE\r\n" in conn.from_client)
    assert_compressed(idle, b"IDLE", b"DONE", b"app test 2")


# --- the engine's sync, on the wire


def test_a_header_sync_is_compressed_on_the_wire(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    append(box, 40)
    run_sync(box, tmp_path)
    (conn,) = logins(proxy)
    assert_compressed(conn, b"UID FETCH", b"HEADER.FIELDS", b"Subject: message 39", b"LOGOUT")
    assert len(conn.raw_from_server) < len(conn.from_server)
    # The login itself is in the clear, before COMPRESS (RFC 4978 comes after authentication).
    client_wire, _ = compressed_part(conn)
    assert b" LOGIN " in conn.raw_from_client[: len(conn.raw_from_client) - len(client_wire)]
    check_store(box, tmp_path)


def test_the_wire_log_shows_the_inflated_protocol_and_hides_the_password(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    append(box, 3)
    with caplog.at_level(logging.DEBUG, logger="imapclient"):
        run_sync(box, tmp_path, bodies=True)
    assert proxy.connections[0].compressed
    log = caplog.text
    compress = log.index("COMPRESS DEFLATE")
    assert "UID FETCH" in log[compress:] and "Body of message 2." in log[compress:]
    assert box.password not in log and "LOGIN" in log


def test_imaplib_formats_no_wire_log_unless_the_log_is_on(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    # imapclient sets imaplib's debug level to 5, and imaplib then formats every line and the
    # repr of every message it reads before the logger drops them. Off unless asked.
    box, _ = proxied(mail_servers, fault_proxy)
    append(box, 3)
    account = box.account()
    assert account.incoming is not None
    wire = logging.getLogger("imapclient.imaplib")
    assert not wire.isEnabledFor(logging.DEBUG)
    formatted: list[object] = []
    quiet = connect_imap(account.incoming, ca_file=account.ca_file, password=lambda: box.password)
    try:
        imap = quiet._imap
        imap._mesg = formatted.append
        assert imap.debug == 0
        quiet.select_folder("INBOX")
        assert len(quiet.fetch(quiet.search("ALL"), ["BODY.PEEK[]"])) == 3
        assert formatted == []
    finally:
        quiet.logout()
    previous = wire.level
    wire.setLevel(logging.DEBUG)
    try:
        told = connect_imap(
            account.incoming, ca_file=account.ca_file, password=lambda: box.password
        )
        try:
            assert told._imap.debug == 5
        finally:
            told.logout()
    finally:
        wire.setLevel(previous)


# --- servers that do not compress


def test_a_server_without_compress_is_used_uncompressed(
    reduced_dovecot: ReducedDovecot, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    server = reduced_dovecot(without={"COMPRESS=DEFLATE"})
    box, proxy = proxied(server, fault_proxy)
    append(box, 5)
    run_sync(box, tmp_path, bodies=True)
    (conn,) = logins(proxy)
    assert not conn.compressed
    assert b"COMPRESS" not in conn.raw_from_client
    assert b"UID FETCH" in conn.raw_from_client and b"Body of message 4." in conn.raw_from_server
    check_store(box, tmp_path)


@pytest.fixture(scope="module")
def refusing_dovecot(test_ca: CertificateAuthority) -> Iterator[DovecotServer]:
    """A Dovecot that announces COMPRESS=DEFLATE but has no such command (answers BAD)."""
    directory = new_server_directory("tuimail-dovecot-refusing-compress-")
    server = start_dovecot(
        directory, ca=test_ca, without={"COMPRESS=DEFLATE"}, announce={"COMPRESS=DEFLATE"}
    )
    try:
        yield server
    finally:
        server.stop()
        discard_server_directory(directory)


def test_a_server_refusing_compress_is_used_uncompressed(
    refusing_dovecot: DovecotServer, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    box, proxy = proxied(refusing_dovecot, fault_proxy)
    append(box, 5)
    run_sync(box, tmp_path, bodies=True)
    (conn,) = logins(proxy)
    command = COMPRESS_COMMAND.search(conn.raw_from_client)
    assert command is not None, "the client asked, as the server announced it"
    assert re.search(rb"^" + re.escape(command.group(1)) + rb" BAD ", conn.raw_from_server, re.M)
    assert not conn.compressed
    # The connection went on in the clear, to the end of the sync.
    after = conn.raw_from_client[command.end() :]
    assert b"UID FETCH" in after and b" LOGOUT\r\n" in after
    assert b"Body of message 4." in conn.raw_from_server
    check_store(box, tmp_path)


def test_an_account_can_turn_compression_off(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    append(box, 2)
    config = parse_config(
        '[accounts.acct]\naddress = "a@tuimail.test"\n[accounts.acct.imap]\n'
        'host = "example.org"\ncompress = false\n'
    )
    incoming = config.accounts["acct"].incoming
    assert incoming is not None and not incoming.compress
    off = OffMailbox(box.server, box.user, box.host, box.port, box.security)
    run_sync(off, tmp_path)
    (conn,) = logins(proxy)
    assert b"COMPRESS" not in conn.raw_from_client and not conn.compressed
    check_store(box, tmp_path)


async def test_the_default_leaves_a_connection_over_loopback_uncompressed(
    mail_servers: MailServers,
    fault_proxy: FaultProxyFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The account as a user writes it, without `compress`: over loopback no byte crosses a
    # network, so compressing would only cost both ends' time.
    user = mail_servers.add_user("loopzip")
    mail_servers.deliver(user, numbered_message(1))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    text = plain_account_text(mail_servers, user, proxy).replace("compress = true\n", "")
    config = parse_config(text)
    assert config.accounts["acct"].incoming.compress == "auto"  # type: ignore[union-attr]
    app = TuimailApp(config, tmp_path)
    with caplog.at_level(logging.DEBUG, logger="tuimail.sync.imap.connect"):
        async with app.run_test(size=(120, 36)) as pilot:
            body = app.screen.query_one("#view-body", Static)
            await wait_for(pilot, lambda: "Body number 1." in str(body.render()))
    connections = logins(proxy)
    assert connections
    for conn in connections:
        assert b"COMPRESS" not in conn.raw_from_client and not conn.compressed
    assert "over loopback, not compressed" in caplog.text


def test_compress_accepts_true_false_and_auto_and_nothing_else() -> None:
    def parsed(value: str) -> object:
        text = '[accounts.a]\naddress = "a@tuimail.test"\n[accounts.a.imap]\nhost = "h"\n'
        incoming = (
            parse_config(text + (f"compress = {value}\n" if value else "")).accounts["a"].incoming
        )
        assert incoming is not None
        return incoming.compress

    assert parsed("") == "auto"
    assert parsed('"auto"') == "auto"
    assert parsed("true") is True
    assert parsed("false") is False
    for wrong, said in (('"yes"', "'yes'"), ("1", "a number")):
        with pytest.raises(ConfigError) as caught:
            parsed(wrong)
        message = str(caught.value)
        assert "compress" in message and 'true, false or "auto"' in message and said in message


@dataclasses.dataclass
class OffMailbox(Mailbox):
    """The mailbox of an account whose `imap.compress` is false."""

    def account(self):  # type: ignore[no-untyped-def]
        account = super().account()
        assert account.incoming is not None
        return dataclasses.replace(
            account, incoming=dataclasses.replace(account.incoming, compress=False)
        )


def check_store(box: Mailbox, data_dir: Path) -> None:
    conn = open_store(data_dir)
    try:
        assert store_view(conn) == server_view(box)
    finally:
        conn.close()
