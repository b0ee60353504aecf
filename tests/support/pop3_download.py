"""A POP3 account on the test Dovecot: messages delivered to it, a download into a store, and
what the server and the store hold."""

from __future__ import annotations

import poplib
import ssl
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import imapclient

from tests.support.mailservers import MailServers
from tuimail.config.schema import AccountConfig, ServerConfig
from tuimail.core.model import Protocol, Security
from tuimail.store import body_codec
from tuimail.store.db import open_store
from tuimail.sync.events import (
    Event,
)
from tuimail.sync.pop3.fetch import FetchResult, Pop3Download


def pop3_account(
    servers: MailServers,
    user: str,
    *,
    name: str = "home",
    security: Security = Security.TLS,
    host: str | None = None,
    port: int | None = None,
    leave_on_server: bool = True,
    delete_after_days: int = 0,
) -> AccountConfig:
    """An account config for `user`'s POP3 mailbox on the test Dovecot."""
    default_port = servers.pop3s_port if security is Security.TLS else servers.pop3_port
    return AccountConfig(
        name=name,
        address=servers.address(user),
        ca_file=servers.ca_file,
        incoming=ServerConfig(
            protocol=Protocol.POP3,
            host=host or servers.host,
            port=port or default_port,
            security=security,
            username=user,
            leave_on_server=leave_on_server,
            delete_after_days=delete_after_days,
        ),
    )


def make_message(index: int, *, subject: str | None = None, body: str | None = None) -> bytes:
    """A small distinct message; the body mentions a searchable word per message."""
    subject = subject or f"Report number {index}"
    body = body or f"Hello,\r\nthe keyword is zebra{index}.\r\n.leading dot line\r\nBye\r\n"
    return (
        f"From: Sender {index} <sender{index}@example.org>\r\n"
        f"To: someone@tuimail.test\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <pop3-test-{index}@example.org>\r\n"
        f"Date: Mon, 02 Nov 2026 10:{index % 60:02d}:00 +0000\r\n"
        "\r\n"
        f"{body}"
    ).encode()


def deliver_all(servers: MailServers, user: str, messages: list[bytes]) -> None:
    """Deliver in order: the first is the oldest (message number 1)."""
    for raw in messages:
        servers.deliver(user, raw)


def imap_messages(servers: MailServers, user: str) -> list[bytes]:
    """Every message in `user`'s INBOX as Dovecot returns it over IMAP, in arrival order."""
    context = ssl.create_default_context(cafile=str(servers.ca_file))
    with imapclient.IMAPClient(
        servers.host, servers.imaps_port, ssl=True, ssl_context=context, timeout=20
    ) as client:
        client.login(user, servers.users[user])
        client.select_folder("INBOX", readonly=True)
        uids = client.search()
        fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        return [fetched[uid][b"BODY[]"] for uid in sorted(uids)]


def pop3_uidls(servers: MailServers, user: str) -> list[str]:
    """The UIDLs Dovecot lists for `user` now (a separate session; deletes nothing)."""
    pop = poplib.POP3_SSL(
        servers.host, servers.pop3s_port, context=servers.client_ssl_context(), timeout=20
    )
    try:
        pop.user(user)
        pop.pass_(servers.users[user])
        return [line.split(b" ", 1)[1].decode() for line in pop.uidl()[1]]
    finally:
        pop.quit()


def stored(data_dir: Path, account: str = "home") -> list[tuple[str, bytes]]:
    """(UIDL, exact bytes) of every stored message of the account, in storing order."""
    conn = open_store(data_dir)
    try:
        rows = conn.execute(
            "SELECT m.uidl, b.raw, b.codec, b.dict_id FROM messages AS m"
            " JOIN bodies AS b ON b.message_id = m.id"
            " JOIN accounts AS a ON a.id = m.account_id WHERE a.name = ? ORDER BY m.id",
            (account,),
        ).fetchall()
        return [(row[0], body_codec.unpack(conn, *row[1:])) for row in rows]
    finally:
        conn.close()


class Recorder:
    """An `emit` that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type) -> list:
        return [event for event in self.events if isinstance(event, kind)]


def download(
    servers: MailServers,
    user: str,
    data_dir: Path,
    account: AccountConfig | None = None,
    *,
    now: Callable[[], datetime] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[FetchResult, Recorder]:
    account = account or pop3_account(servers, user)
    recorder = Recorder()
    result = Pop3Download(
        account,
        data_dir,
        emit=recorder,
        cancel=cancel,
        password=lambda: servers.users[user],
        now=now,
        timeout=20,
    ).run()
    return result, recorder
