"""An IMAP account on the test Dovecot (or a reduced one, or behind the fault proxy), a sync of it
into a store, and views of both sides to compare."""

from __future__ import annotations

import shlex
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from typing import Protocol as TypingProtocol

import imapclient

from tests.support.dovecot import DovecotServer
from tests.support.proxy import FaultProxy, Faults
from tuimail.config.schema import AccountConfig, BodyPolicy, ServerConfig
from tuimail.core.model import Protocol, Security
from tuimail.store import read
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.events import Event
from tuimail.sync.imap.account import AccountResult, ImapSync
from tuimail.sync.imap.connect import connect_imap

ReducedDovecot = Callable[..., DovecotServer]
FaultProxyFactory = Callable[..., FaultProxy]
ACCOUNT = "acct"


class Server(TypingProtocol):
    """What the tests need of MailServers and of a reduced DovecotServer alike."""

    host: str

    @property
    def imaps_port(self) -> int: ...
    @property
    def imap_port(self) -> int: ...
    @property
    def ca_file(self) -> Path: ...
    @property
    def users(self) -> dict[str, str]: ...
    def add_user(self, prefix: str = "user") -> str: ...


@dataclass
class Mailbox:
    """One fresh user on one server; `host`/`port`/`security` are how the engine reaches it."""

    server: Server
    user: str
    host: str
    port: int
    security: Security

    @property
    def password(self) -> str:
        return self.server.users[self.user]

    def account(self) -> AccountConfig:
        # Compressed where the server offers it although the test server is on loopback
        # (where the default leaves it off): the engine's tests run the compressed wire a
        # distant server gets.
        incoming = ServerConfig(
            protocol=Protocol.IMAP,
            host=self.host,
            port=self.port,
            security=self.security,
            username=self.user,
            compress=True,
        )
        return AccountConfig(
            name=ACCOUNT,
            address=f"{self.user}@tuimail.test",
            password_command=f"printf '%s\\n' {shlex.quote(self.password)}",
            ca_file=self.server.ca_file,
            incoming=incoming,
        )

    def device(self) -> imapclient.IMAPClient:
        """Another client of the same mailbox, straight to the server over implicit TLS."""
        context = ssl.create_default_context(cafile=str(self.server.ca_file))
        client = imapclient.IMAPClient(
            self.server.host, self.server.imaps_port, ssl=True, ssl_context=context, timeout=20
        )
        client.login(self.user, self.password)
        return client

    def through(self, proxy: FaultProxy) -> Mailbox:
        """The same mailbox reached through a proxy in plain text (so its record is readable)."""
        return Mailbox(self.server, self.user, proxy.host, proxy.port, Security.NONE)


def new_mailbox(server: Server) -> Mailbox:
    return Mailbox(server, server.add_user("imap"), server.host, server.imaps_port, Security.TLS)


def proxied(
    target: Server, fault_proxy: FaultProxyFactory, **faults: Faults
) -> tuple[Mailbox, FaultProxy]:
    """A fresh mailbox reached through a recording proxy to the server's STARTTLS port, in plain
    text (Dovecot allows a plaintext login from 127.0.0.1)."""
    box = new_mailbox(target)
    proxy = fault_proxy(target.host, target.imap_port, **faults)
    return box.through(proxy), proxy


def message(number: int, *, subject: str | None = None, body: str = "", extra: str = "") -> bytes:
    date = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=number)
    text = (
        f"From: Sender {number} <sender{number}@example.org>\r\n"
        f"To: someone@tuimail.test\r\n"
        f"Subject: {subject or f'message {number}'}\r\n"
        f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <m{number}.{id(date)}@example.org>\r\n"
        f"{extra}"
        f"\r\n"
        f"{body or f'Body of message {number}.'}\r\n"
    )
    return text.encode()


def append(box: Mailbox, count: int, *, folder: str = "INBOX", start: int = 0) -> None:
    with box.device() as device:
        for number in range(start, start + count):
            device.append(folder, message(number))


def run_sync(
    box: Mailbox,
    data_dir: Path,
    *,
    folder: str | None = None,
    bodies: bool | BodyPolicy = False,
    emit: Callable[[Event], None] | None = None,
    **engine: Any,
) -> AccountResult:
    """One pass of the engine in this thread, as the sync command runs it. `bodies`: True for
    every body (as `--bodies`), False for none (headers only), or a policy."""
    account = box.account()
    assert account.incoming is not None
    conn = open_store(data_dir)
    client = connect_imap(account.incoming, ca_file=account.ca_file, password=lambda: box.password)
    try:
        sync = ImapSync(conn, ACCOUNT, client, emit=emit or (lambda event: None), **engine)
        if isinstance(bodies, bool):
            bodies = BodyPolicy(keep="all" if bodies else "none")
        return sync.sync(folder=folder, bodies=bodies)
    finally:
        client.logout()
        conn.close()


@contextmanager
def engine_on(box: Mailbox, conn: StoreConnection, **engine: Any) -> Iterator[ImapSync]:
    """The account's engine over one connection of its own and the store connection `conn`,
    as a session holds it; logged out at the end."""
    account = box.account()
    assert account.incoming is not None
    client = connect_imap(account.incoming, ca_file=account.ca_file, password=lambda: box.password)
    try:
        yield ImapSync(conn, ACCOUNT, client, **engine)
    finally:
        client.logout()


def body_under_another_uid(uid: int) -> Callable[[bytes], bytes]:
    """A fault proxy's `rewrite_line` that sends the body of UID `uid` back as a FETCH for UID
    99, which nobody asked for: the message is left without its body."""
    asked, stray = f"UID {uid} ".encode(), b"UID 99 "

    def rewrite(line: bytes) -> bytes:
        if line.startswith(b"* ") and b" FETCH (" in line and b"BODY[]" in line:
            return line.replace(asked, stray)
        return line

    return rewrite


def folder_id(conn: StoreConnection, name: str) -> int:
    account = read.account_id(conn, ACCOUNT)
    assert account is not None
    info = read.find_folder(conn, account, name)
    assert info is not None, name
    return info.id


def server_view(box: Mailbox, folder: str = "INBOX") -> dict[int, tuple[frozenset[str], int]]:
    """UID -> (flags, size) as the server holds them."""
    with box.device() as device:
        device.select_folder(folder, readonly=True)
        data = device.fetch(device.search("ALL"), ["FLAGS", "RFC822.SIZE"])
    return {
        uid: (
            frozenset(f.decode() for f in item[b"FLAGS"] if f.lower() != b"\\recent"),
            item[b"RFC822.SIZE"],
        )
        for uid, item in data.items()
    }


def store_view(
    conn: StoreConnection, folder: str = "INBOX"
) -> dict[int, tuple[frozenset[str], int]]:
    rows = conn.execute(
        "SELECT uid, flags, size FROM messages WHERE folder_id = ? AND uid IS NOT NULL",
        (folder_id(conn, folder),),
    ).fetchall()
    uids = [row[0] for row in rows]
    assert len(uids) == len(set(uids)), "duplicate UIDs in the store"
    return {row[0]: (frozenset(row[1].split()), row[2]) for row in rows}


def commands_sent(proxy: FaultProxy) -> list[str]:
    return [line.decode("utf-8", "replace") for line in proxy.from_client.split(b"\r\n")]


RESYNC_CASES = {
    "qresync": frozenset(),
    "condstore": frozenset({"QRESYNC"}),
    "full": frozenset({"QRESYNC", "CONDSTORE"}),
}


def write_config(box: Mailbox, path: Path) -> Path:
    account = box.account()
    assert account.incoming is not None
    server = account.incoming
    path.write_text(
        f"[accounts.{ACCOUNT}]\n"
        f'address = "{account.address}"\n'
        f"password_command = {tomlstr(account.password_command or '')}\n"
        f"ca_file = {tomlstr(str(account.ca_file))}\n"
        f"[accounts.{ACCOUNT}.imap]\n"
        f'host = "{server.host}"\n'
        f"port = {server.port}\n"
        f'security = "{server.security.value}"\n'
        f'username = "{server.username}"\n',
        encoding="utf-8",
    )
    return path


def tomlstr(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
