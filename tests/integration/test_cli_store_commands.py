"""End to end through the command line: `tuimail sync` against the real Dovecot, then `list`,
`show --raw` and `export` give back exactly what the server holds.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import imapclient
import pytest

from tests.support.mailservers import MailServers
from tuimail.cli.main import main
from tuimail.core.model import FLAGGED, SEEN
from tuimail.mail.formats.export import maildir_flags, read_mboxrd
from tuimail.store.lock import AccountLock

pytestmark = pytest.mark.integration


def _message(number: int, body: bytes) -> bytes:
    return (
        f"From: Sender {number} <sender{number}@tuimail.test>\r\n"
        f"To: someone@tuimail.test\r\n"
        f"Subject: export test {number}\r\n"
        f"Date: Mon, {number:02d} Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <export-{number}@tuimail.test>\r\n"
        "\r\n"
    ).encode() + body


BODIES = [
    b"plain body\r\n",
    b"From the start of a line\r\n>From quoted\r\n>>From twice\r\n",
    b"\x1b[31mescape\x1b[0m and trailing blank lines\r\n\r\n\r\n",
]


@pytest.fixture
def synced(mail_servers: MailServers, tmp_path: Path) -> tuple[Path, list[str], dict[int, bytes]]:
    """A fresh user with a few messages (one flagged), a config for it, and the bytes by UID."""
    user = mail_servers.add_user("export")
    for number, body in enumerate(BODIES, start=1):
        mail_servers.deliver(user, _message(number, body))
    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl=True, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        client.select_folder("INBOX")
        uids = sorted(client.search("ALL"))
        client.add_flags(uids[1], [b"\\Flagged"])
        fetched = client.fetch(uids, [b"BODY.PEEK[]"])
        on_server = {uid: bytes(fetched[uid][b"BODY[]"]) for uid in uids}
    password = shlex.quote(mail_servers.users[user])
    config = tmp_path / "config.toml"
    account = (
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
    )
    config.write_text(
        f"[accounts.acct]\n{account}"
        "[accounts.acct.imap]\n"
        f'host = "{mail_servers.host}"\n'
        f"port = {mail_servers.imaps_port}\n"
        f'username = "{user}"\n'
        # The same mailbox, downloaded over POP3 (leaving the mail on the server).
        f"[accounts.home]\n{account}"
        "[accounts.home.pop3]\n"
        f'host = "{mail_servers.host}"\n'
        f"port = {mail_servers.pop3s_port}\n"
        f'username = "{user}"\n'
    )
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    return tmp_path, common, on_server


def test_sync_then_export_gives_back_the_servers_bytes(synced, capsysbinary) -> None:
    root, common, on_server = synced
    assert main(["sync", "acct", "--bodies", *common]) == 0
    capsysbinary.readouterr()

    assert main(["list", "acct/inbox", "--json", *common]) == 0
    records = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert sorted(r["uid"] for r in records) == sorted(on_server)
    assert all(r["body_local"] for r in records)
    by_uid = {r["uid"]: r for r in records}

    for uid, raw in on_server.items():
        assert main(["show", str(by_uid[uid]["id"]), "--raw", *common]) == 0
        assert capsysbinary.readouterr().out == raw

    mbox = root / "inbox.mbox"
    assert main(["export", "acct/INBOX", "--mbox", str(mbox), *common]) == 0
    with mbox.open("rb") as file:
        exported = [entry.raw for entry in read_mboxrd(file)]
    # Oldest first: the Date headers grow with the UIDs here.
    assert exported == [on_server[uid] for uid in sorted(on_server)]

    maildir = root / "md"
    assert main(["export", "acct/INBOX", "--maildir", str(maildir), *common]) == 0
    files = {f.read_bytes(): f.name for f in (maildir / "cur").iterdir()}
    assert set(files) == set(on_server.values())
    flagged = on_server[sorted(on_server)[1]]
    assert FLAGGED in maildir_flags(files[flagged])
    assert SEEN not in maildir_flags(files[flagged])


def test_headers_only_sync_is_reported_by_show_and_export(synced, capsys) -> None:
    root, common, on_server = synced
    config = root / "config.toml"
    headers_only = config.read_text().replace(
        "[accounts.acct.imap]\n", '[accounts.acct.imap]\nbodies = "none"\n'
    )
    config.write_text(headers_only)
    assert main(["sync", "acct", *common]) == 0
    capsys.readouterr()
    assert main(["list", "acct/INBOX", "--json", *common]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    missing = [r for r in records if not r["body_local"]]
    if not missing:
        pytest.fail('a sync with bodies = "none" is expected to store headers only')
    assert main(["show", str(missing[0]["id"]), *common]) == 1
    assert "has only its headers" in capsys.readouterr().err
    mbox = root / "partial.mbox"
    assert main(["export", "acct/INBOX", "--mbox", str(mbox), *common]) == 1
    captured = capsys.readouterr()
    assert f"{len(missing)} skipped" in captured.out
    with mbox.open("rb") as file:
        exported = [entry.raw for entry in read_mboxrd(file)]
    assert len(exported) == len(on_server) - len(missing)
    assert set(exported) <= set(on_server.values())


def test_fetch_then_export_of_the_pop3_inbox_is_byte_exact(synced, capsys) -> None:
    root, common, on_server = synced
    assert main(["fetch", "home", *common]) == 0
    capsys.readouterr()
    mbox = root / "pop3.mbox"
    assert main(["export", "home/inbox", "--mbox", str(mbox), *common]) == 0
    assert "3 messages exported" in capsys.readouterr().out
    with mbox.open("rb") as file:
        exported = [entry.raw for entry in read_mboxrd(file)]
    assert exported == [on_server[uid] for uid in sorted(on_server)]
    assert main(["list", "home/INBOX", "--json", *common]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == len(on_server) and all(r["uidl"] for r in records)


def test_sync_and_fetch_of_an_account_being_synced_say_busy_and_succeed(synced, capsys) -> None:
    """Cron's `tuimail sync` while the app syncs the account: skipped, exit status 0."""
    root, common, _ = synced
    with AccountLock(root / "data", "acct", "imap"), AccountLock(root / "data", "home", "pop3"):
        assert main(["sync", "acct", *common]) == 0
        assert "acct: busy, skipped" in capsys.readouterr().out
        assert main(["fetch", "home", *common]) == 0
        assert "home: busy, skipped" in capsys.readouterr().out
    assert main(["sync", "acct", *common]) == 0
    assert "busy" not in capsys.readouterr().out
