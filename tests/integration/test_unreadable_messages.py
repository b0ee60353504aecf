"""A message the server cannot read (its file unreadable to the real Dovecot, which then ends
the IMAP connection with BYE when it is fetched) holds up nothing: `tuimail sync` stores the
rest, names it in its output and in the folder's sync health (what `H` shows in the app), and a
later sync gets it once it is readable. A server that ends the connection once over a FETCH for
its own reasons (`doveadm kick`) has no message skipped. (The POP3 side, RETR -ERR, is in
test_pop3_download.py.)
"""

from __future__ import annotations

import io
import json
import shlex
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static

from tests.support.mailservers import MailServers
from tests.support.proxy import FaultProxy, Faults
from tuimail.app.application import TuimailApp
from tuimail.cli.main import main
from tuimail.config.load import load_config
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.ui.screens.health import HealthScreen
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration

SKIPPED = "1 message the server would not give, skipped and tried again next time"


def _message(number: int) -> bytes:
    return (
        f"From: Sender {number} <sender{number}@tuimail.test>\r\n"
        "To: someone@tuimail.test\r\n"
        f"Subject: unreadable test {number}\r\n"
        f"Message-ID: <unreadable-{number}@tuimail.test>\r\n"
        "\r\n"
        f"body marker-{number}.\r\n"
    ).encode()


@pytest.fixture
def mailbox(mail_servers: MailServers, tmp_path: Path) -> tuple[str, list[str]]:
    """A user with five messages, and the command-line options for an IMAP account on it."""
    user = mail_servers.add_user("unreadable")
    mail_servers.deliver_many(user, [_message(n) for n in range(1, 6)])
    password = shlex.quote(mail_servers.users[user])
    config = tmp_path / "config.toml"
    config.write_text(
        "[accounts.acct]\n"
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        "[accounts.acct.imap]\n"
        f'host = "{mail_servers.host}"\n'
        f"port = {mail_servers.imaps_port}\n"
        f'username = "{user}"\n'
    )
    return user, ["--config", str(config), "--data-dir", str(tmp_path / "data")]


def _config(
    path: Path, servers: MailServers, user: str, host: str, port: int, security: str
) -> None:
    password = shlex.quote(servers.users[user])
    path.write_text(
        "[accounts.acct]\n"
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(servers.ca_file))}\n"
        "[accounts.acct.imap]\n"
        f'host = "{host}"\n'
        f"port = {port}\n"
        f'security = "{security}"\n'
        f'username = "{user}"\n'
    )


def _stored(common: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict]:
    assert main(["list", "acct/INBOX", "--json", *common]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _health(data_dir: Path) -> str | None:
    conn = open_store(data_dir)
    try:
        account_id = read.account_id(conn, "acct")
        [inbox] = [f for f in read.folders(conn, account_id) if f.name == "INBOX"]
        return inbox.last_error
    finally:
        conn.close()


def test_sync_skips_and_names_an_unreadable_message_then_gets_it_later(
    mail_servers: MailServers, mailbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user, common = mailbox
    mail_servers.make_unreadable(user, b"marker-3.")
    for _ in range(2):  # run after run, the rest is there and the one is named
        assert main(["sync", "acct", "--bodies", *common]) == 0
        out = capsys.readouterr().out
        assert f"INBOX: {SKIPPED} (UID 3: " in out
        records = _stored(common, capsys)
        assert sorted(r["subject"] for r in records) == [
            f"unreadable test {n}" for n in (1, 2, 4, 5)
        ]
        assert all(r["body_local"] for r in records)
        assert SKIPPED in (_health(tmp_path / "data") or "")

    mail_servers.make_unreadable(user, b"marker-3.", readable=True)
    assert main(["sync", "acct", "--bodies", *common]) == 0
    assert "would not give" not in capsys.readouterr().out
    assert len(_stored(common, capsys)) == 5
    assert _health(tmp_path / "data") is None


def test_a_body_the_server_cannot_read_is_skipped_and_the_other_bodies_stored(
    mail_servers: MailServers, mailbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user, common = mailbox
    with (tmp_path / "config.toml").open("a", encoding="utf-8") as config:
        config.write('bodies = "none"\n')
    assert main(["sync", "acct", *common]) == 0  # headers only
    capsys.readouterr()
    mail_servers.make_unreadable(user, b"marker-4.")
    assert main(["sync", "acct", "--bodies", *common]) == 0
    assert SKIPPED in capsys.readouterr().out
    local = {r["subject"]: r["body_local"] for r in _stored(common, capsys)}
    assert local == {f"unreadable test {n}": n != 4 for n in range(1, 6)}


async def test_the_app_syncs_the_rest_and_its_sync_health_names_the_unreadable_message(
    mail_servers: MailServers, mailbox, tmp_path: Path
) -> None:
    user, _ = mailbox
    mail_servers.make_unreadable(user, b"marker-2.")
    config = load_config(tmp_path / "config.toml", must_exist=True)
    app = TuimailApp(config, tmp_path / "data")
    async with app.run_test(size=(200, 40)) as pilot:
        table = app.screen.query_one(MessageList)
        for _ in range(600):  # bounded: the server answers in milliseconds
            if len(table.ids) == 4:
                break
            await pilot.pause(0.05)
        subjects = {table.row_at(i).envelope.subject for i in range(len(table.ids))}
        assert subjects == {f"unreadable test {n}" for n in (1, 3, 4, 5)}
        await pilot.press("H")
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen)
        health = app.screen.query_one("#health", Static)
        console = Console(width=400, record=True, file=io.StringIO())
        console.print(health.content)
        assert SKIPPED in console.export_text()


def test_a_connection_the_server_ends_once_over_a_fetch_skips_no_message(
    mail_servers: MailServers,
    fault_proxy: Callable[..., FaultProxy],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The server ends every connection of the user (`doveadm kick`) as the sync fetches the
    headers of the mailbox's only message: a reconnect fetches it again, it is stored, and
    nothing calls it unreadable."""
    user = mail_servers.add_user("kicked")
    mail_servers.deliver_many(user, [_message(1)])
    kicked = threading.Event()
    bye_sent = threading.Event()

    def kick_at_the_fetch(line: bytes) -> bytes:
        if b" UID FETCH " in line and b"HEADER" in line and not kicked.is_set():
            kicked.set()
            mail_servers.doveadm("kick", user)
            # The FETCH goes on only once the server has said BYE: a kicked Dovecot may first
            # answer a command it already holds, and the BYE would come over the next one.
            bye_sent.wait(30)
        return line

    def watch_for_bye(line: bytes) -> bytes:
        if kicked.is_set() and line.startswith(b"* BYE"):
            bye_sent.set()
        return line

    proxy = fault_proxy(
        mail_servers.host,
        mail_servers.imap_port,
        client=Faults(rewrite_line=kick_at_the_fetch),
        server=Faults(rewrite_line=watch_for_bye),
    )
    config = tmp_path / "config.toml"
    _config(config, mail_servers, user, proxy.host, proxy.port, "none")
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert main(["sync", "acct", *common]) == 0
    out = capsys.readouterr().out
    assert kicked.is_set()
    assert "would not give" not in out
    assert [m["subject"] for m in _stored(common, capsys)] == ["unreadable test 1"]
    assert _health(tmp_path / "data") is None
