"""`tuimail import --upload` against the real Dovecot: messages arrive in the IMAP folder (made
when missing) byte for byte, with their flags and internal dates; a rerun, also after a crash
between two APPENDs, adds nothing twice; the next sync brings them into the store."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import imapclient
import pytest

from tests.support.mailservers import MailServers
from tests.support.mbox_import import DATES, MESSAGES, ON_SERVER, mbox_file, write_config
from tuimail.cli.main import main
from tuimail.core.crashpoint import CRASH_EXIT_CODE, ENV_VAR, KNOWN_CRASHPOINTS
from tuimail.core.model import ANSWERED, FLAGGED, SEEN
from tuimail.mail.formats.export import Maildir
from tuimail.store import read
from tuimail.store.db import open_store

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FOLDER = "Archive/2019"


FLAGS = [{SEEN}, {FLAGGED, ANSWERED}, set(), set(), {SEEN}]


def server_folder(
    servers: MailServers, user: str, folder: str
) -> list[tuple[bytes, set, datetime]]:
    """(bytes, flags, internal date) of every message in the folder, in UID order."""
    with imapclient.IMAPClient(
        servers.host, servers.imaps_port, ssl=True, ssl_context=servers.client_ssl_context()
    ) as client:
        client.login(user, servers.users[user])
        client.select_folder(folder, readonly=True)
        uids = sorted(client.search("ALL"))
        data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]) if uids else {}
        return [
            (
                bytes(data[uid][b"BODY[]"]),
                {flag.decode() for flag in data[uid][b"FLAGS"]} - {"\\Recent"},
                data[uid][b"INTERNALDATE"].astimezone(UTC),
            )
            for uid in uids
        ]


def test_upload_appends_exact_bytes_with_flags_and_dates_and_a_rerun_adds_nothing(
    mail_servers: MailServers, tmp_path: Path, capsys
) -> None:
    user = mail_servers.add_user("import")
    config = write_config(mail_servers, user, tmp_path / "config.toml")
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    source = mbox_file(tmp_path / "old.mbox")

    assert main([*common, "import", "--mbox", str(source), f"acct/{FOLDER}", "--upload"]) == 0
    assert "5 appended to acct/Archive/2019 on the server" in capsys.readouterr().out
    held = server_folder(mail_servers, user, FOLDER)
    assert [raw for raw, _, _ in held] == ON_SERVER
    assert [flags for _, flags, _ in held] == FLAGS
    assert [when for _, _, when in held] == DATES

    # Again, into the folder that now exists: every message is found, nothing is appended.
    assert main([*common, "import", "--mbox", str(source), f"acct/{FOLDER}", "--upload"]) == 0
    assert "0 appended" in capsys.readouterr().out
    assert [raw for raw, _, _ in server_folder(mail_servers, user, FOLDER)] == ON_SERVER

    # The next sync brings them into the store, byte for byte.
    assert main([*common, "sync", "acct", "--folder", FOLDER, "--bodies"]) == 0
    capsys.readouterr()
    conn = open_store(tmp_path / "data")
    try:
        account_id = read.account_id(conn, "acct")
        assert account_id is not None
        folder = read.find_folder(conn, account_id, FOLDER)
        assert folder is not None
        stored = [read.body(conn, i) for i in read.message_ids(conn, folder.id)]
    finally:
        conn.close()
    assert sorted(stored) == sorted(ON_SERVER)  # type: ignore[type-var]


def test_a_maildir_goes_up_with_the_flags_of_its_names(
    mail_servers: MailServers, tmp_path: Path, capsys
) -> None:
    user = mail_servers.add_user("import")
    config = write_config(mail_servers, user, tmp_path / "config.toml")
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    box = Maildir(tmp_path / "lists")
    for raw, flags, when in zip(MESSAGES[:3], FLAGS[:3], DATES[:3], strict=True):
        box.add(raw, flags, when)
    box.commit()

    # The folder is named after the directory.
    assert main([*common, "import", "--maildir", str(tmp_path / "lists"), "acct", "--upload"]) == 0
    held = sorted(server_folder(mail_servers, user, "lists"), key=lambda item: item[2])
    assert [(raw, flags, when) for raw, flags, when in held] == list(
        zip(ON_SERVER[:3], FLAGS[:3], DATES[:3], strict=True)
    )


def test_a_crash_between_appends_then_a_rerun_leaves_each_message_once(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    assert "import.appended" in KNOWN_CRASHPOINTS
    user = mail_servers.add_user("import")
    config = write_config(mail_servers, user, tmp_path / "config.toml")
    source = mbox_file(tmp_path / "old.mbox")
    # Into INBOX, which exists: the rerun must search, not trust a folder it made itself.
    command = [
        sys.executable,
        "-m",
        "tuimail",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        "import",
        "--mbox",
        str(source),
        "acct/INBOX",
        "--upload",
    ]
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    env["PYTHONPATH"] = str(ROOT)
    crashed = subprocess.run(
        command, env={**env, ENV_VAR: "import.appended:3"}, capture_output=True, timeout=120
    )
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert [raw for raw, _, _ in server_folder(mail_servers, user, "INBOX")] == ON_SERVER[:3]

    rerun = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert b"2 appended" in rerun.stdout and b"3 already there" in rerun.stdout
    assert [raw for raw, _, _ in server_folder(mail_servers, user, "INBOX")] == ON_SERVER
