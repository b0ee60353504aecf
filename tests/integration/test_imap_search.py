"""`tuimail search --server` against the real Dovecot: words in bodies that a headers-only sync
never downloaded, non-ASCII and hostile queries, JSON output, and usage errors.

The account reaches Dovecot through a recording proxy in plain text, so the tests can read
every command the client sent.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imapclient
import pytest

from tests.support.mailservers import MailServers
from tests.support.proxy import FaultProxy, Faults
from tuimail.cli.main import main

pytestmark = pytest.mark.integration

FaultProxyFactory = Callable[..., FaultProxy]

# Command lines a client sends start with imaplib's tag (letters and a number).
_COMMAND = re.compile(rb"^[A-Z]+\d+ ([A-Z]+(?: SEARCH)?)", re.MULTILINE)


def _message(number: int, subject: str, body: str) -> bytes:
    return (
        f"From: Sender {number} <sender{number}@tuimail.test>\r\n"
        f"To: someone@tuimail.test\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Mon, {number:02d} Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <search-{number}@tuimail.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


MESSAGES = [
    (1, "quarterly numbers", "the zanzibar figures are attached"),
    (2, "lunch", "Grüße aus Köln, mit Schwarzwälder Kirschtorte"),
    (3, "odd text", 'He wrote: a) (b {5} "quoted" back\\slash, then stopped'),
    (4, "follow-up", "more zanzibar figures"),
]


@dataclass
class Setup:
    """A synced (headers only) IMAP account behind a proxy, and the command's common options."""

    servers: MailServers
    user: str
    proxy: FaultProxy
    common: list[str]

    def device(self) -> imapclient.IMAPClient:
        client = imapclient.IMAPClient(
            self.servers.host,
            self.servers.imaps_port,
            ssl=True,
            ssl_context=self.servers.client_ssl_context(),
            timeout=20,
        )
        client.login(self.user, self.servers.users[self.user])
        return client


@pytest.fixture
def synced(mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path) -> Setup:
    user = mail_servers.add_user("search")
    for number, subject, body in MESSAGES:
        mail_servers.deliver(user, _message(number, subject, body))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    password = shlex.quote(mail_servers.users[user])
    account = (
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f"[accounts.acct]\n{account}"
        "[accounts.acct.imap]\n"
        f'host = "{proxy.host}"\n'
        f"port = {proxy.port}\n"
        'security = "none"\n'
        f'username = "{user}"\n'
        'bodies = "none"\n'  # headers only: words in bodies are on the server alone
        f"[accounts.home]\n{account}"
        "[accounts.home.pop3]\n"
        f'host = "{mail_servers.host}"\n'
        f"port = {mail_servers.pop3s_port}\n"
        f'username = "{user}"\n'
        f'[accounts.solo]\naddress = "solo@tuimail.test"\n'
    )
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert main(["sync", "acct", *common]) == 0
    return Setup(mail_servers, user, proxy, common)


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def _subjects(text: str) -> list[object]:
    return [record["subject"] for record in _json_lines(text)]


def _commands(proxy: FaultProxy, connection: int) -> list[bytes]:
    return _COMMAND.findall(bytes(proxy.connections[connection].from_client))


def test_words_only_in_bodies_are_found_on_the_server(synced: Setup, capsys) -> None:
    capsys.readouterr()
    assert main(["search", "zanzibar", "--json", *synced.common]) == 0
    assert capsys.readouterr().out == ""  # the bodies are not local

    connections = len(synced.proxy.connections)
    assert main(["search", "zanzibar", "--server", "--json", *synced.common]) == 0
    captured = capsys.readouterr()
    records = _json_lines(captured.out)
    assert [r["subject"] for r in records] == ["follow-up", "quarterly numbers"]  # newest first
    assert all(r["account"] == "acct" and r["folder"] == "INBOX" for r in records)
    assert not any(r["body_local"] for r in records)
    assert captured.err == ""
    # Read-only: EXAMINE, one UID SEARCH, nothing that changes the mailbox.
    commands = _commands(synced.proxy, connections)
    assert commands.count(b"UID SEARCH") == 1
    assert b"EXAMINE" in commands
    assert not {b"SELECT", b"STORE", b"EXPUNGE", b"COPY", b"MOVE", b"APPEND"} & set(commands)

    # The same ids the local store lists for those messages.
    assert main(["list", "acct/INBOX", "--json", *synced.common]) == 0
    listed = {r["subject"]: r["id"] for r in _json_lines(capsys.readouterr().out)}
    assert [r["id"] for r in records] == [listed["follow-up"], listed["quarterly numbers"]]


def test_text_output_is_the_local_searchs(synced: Setup, capsys) -> None:
    capsys.readouterr()
    for scope in (["--folder", "acct/INBOX"], []):
        assert main(["search", "subject:lunch", *scope, *synced.common]) == 0
        local = capsys.readouterr().out
        assert main(["search", "subject:lunch", "--server", *scope, *synced.common]) == 0
        server = capsys.readouterr().out
        assert server == local
        assert len(server.splitlines()) == 1 and "lunch" in server
    # Only the default (every IMAP account's INBOX) shows the folder column.
    assert main(["search", "lunch", "--server", *synced.common]) == 0
    assert "acct/INBOX" in capsys.readouterr().out


def test_non_ascii_query_is_sent_as_utf8_literal(synced: Setup, capsys) -> None:
    capsys.readouterr()
    connections = len(synced.proxy.connections)
    query = "Grüße body:Schwarzwälder"
    assert main(["search", query, "--server", "--json", *synced.common]) == 0
    assert _subjects(capsys.readouterr().out) == ["lunch"]
    sent = bytes(synced.proxy.connections[connections].from_client)
    assert b"UID SEARCH CHARSET UTF-8 TEXT {" in sent
    assert "Grüße".encode() in sent and "Schwarzwälder".encode() in sent


def test_punctuation_quotes_and_backslashes_are_searched_as_text(synced: Setup, capsys) -> None:
    capsys.readouterr()
    query = r"a) (b {5} back\slash"
    assert main(["search", query, "--server", "--json", *synced.common]) == 0
    assert _subjects(capsys.readouterr().out) == ["odd text"]
    assert (
        main(["search", 'subject:"odd text" "quoted"', "--server", "--json", *synced.common]) == 0
    )
    assert _subjects(capsys.readouterr().out) == ["odd text"]


def test_a_hostile_query_cannot_add_commands(synced: Setup, capsys) -> None:
    capsys.readouterr()
    connections = len(synced.proxy.connections)
    hostile = 'x" )\r\nA999 UID STORE 1:* +FLAGS (\\Deleted)\r\nA1000 EXPUNGE {5}\r\n\\'
    assert main(["search", hostile, "--server", "--json", *synced.common]) == 0
    assert capsys.readouterr().out == ""
    record = synced.proxy.connections[connections]
    commands = _commands(synced.proxy, connections)
    assert commands.count(b"UID SEARCH") == 1
    assert not {b"STORE", b"EXPUNGE", b"A"} & set(commands)
    # The server saw one well-formed SEARCH: it answered it OK, and nothing was refused.
    replies = bytes(record.from_server)
    assert re.search(rb"^[A-Z]+\d+ OK Search completed", replies, re.MULTILINE)
    assert not re.search(rb"^[A-Z]+\d+ (?:NO|BAD)", replies, re.MULTILINE)
    with synced.device() as device:
        device.select_folder("INBOX", readonly=True)
        flags = device.get_flags(device.search("ALL"))
    assert len(flags) == len(MESSAGES)
    assert not any(b"\\Deleted" in f for f in flags.values())


def test_matches_not_synced_yet_are_counted(synced: Setup, capsys) -> None:
    synced.servers.deliver(synced.user, _message(5, "late", "zanzibar arrives late"))
    capsys.readouterr()
    assert main(["search", "zanzibar", "--server", "--json", *synced.common]) == 0
    captured = capsys.readouterr()
    assert _subjects(captured.out) == ["follow-up", "quarterly numbers"]
    assert "1 more on the server not yet synced" in captured.err
    assert main(["search", "zanzibar", "--server", "--limit", "1", *synced.common]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--folder", "home"], "only IMAP folders can be searched on the server"),
        (["--folder", "home/INBOX"], "'home' is a POP3 account"),
        (["--folder", "solo"], "'solo' is a local account"),
        (["--folder", "nobody"], "no account 'nobody'"),
        (["--folder", "acct/NoSuchFolder"], "has no folder 'NoSuchFolder'"),
    ],
)
def test_usage_errors(synced: Setup, capsys, arguments: list[str], expected: str) -> None:
    capsys.readouterr()
    assert main(["search", "zanzibar", "--server", *arguments, *synced.common]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert expected in captured.err


def test_a_failed_connection_exits_1_with_a_message(synced: Setup, capsys) -> None:
    capsys.readouterr()
    synced.proxy.server = Faults(close_after=0)
    assert main(["search", "zanzibar", "--server", *synced.common]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tuimail: error: acct: ")


def test_a_malformed_search_result_exits_1(synced: Setup, capsys) -> None:
    def garble(line: bytes) -> bytes:
        return b"* SEARCH 1 two\r\n" if line.startswith(b"* SEARCH") else line

    synced.proxy.server = Faults(rewrite_line=garble)
    capsys.readouterr()
    assert main(["search", "zanzibar", "--server", *synced.common]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "the server sent something unexpected" in captured.err


def test_a_search_answer_that_is_no_imap_says_protocol_error_not_connection(
    synced: Setup, capsys
) -> None:
    # A line that is not an IMAP response at all: imaplib gives up on the connection, but the
    # network was fine, and the message says what went wrong.
    def garble(line: bytes) -> bytes:
        return b"SEARCH 1 2 (oops\r\n" if line.startswith(b"* SEARCH") else line

    synced.proxy.server = Faults(rewrite_line=garble)
    capsys.readouterr()
    assert main(["search", "zanzibar", "--server", *synced.common]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "tuimail: error: acct: the server sent something unexpected (a protocol error of the "
        "server): command: SEARCH => unexpected response: b'SEARCH 1 2 (oops'"
    ]


def test_sync_and_fetch_make_the_bodies_they_store_searchable_before_they_return(
    synced: Setup, capsys
) -> None:
    """Bodies are stored first and indexed after (issue 19); the command does both before it
    returns, so a search right after finds their words, for IMAP and for POP3."""
    assert main(["sync", "acct", "--bodies", *synced.common]) == 0
    capsys.readouterr()
    assert main(["search", "zanzibar", "--folder", "acct", "--json", *synced.common]) == 0
    assert _subjects(capsys.readouterr().out) == ["follow-up", "quarterly numbers"]
    assert main(["fetch", "home", *synced.common]) == 0
    capsys.readouterr()
    assert main(["search", "zanzibar", "--folder", "home", "--json", *synced.common]) == 0
    assert sorted(map(str, _subjects(capsys.readouterr().out))) == [
        "follow-up",
        "quarterly numbers",
    ]
