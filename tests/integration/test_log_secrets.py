"""No password reaches a log, the terminal, or any file tuimail writes, in plain text or base64.

`tuimail --debug --log-file F accounts check` logs in to every server (IMAP, POP3, SMTP; implicit
TLS, STARTTLS and plain loopback) with the right password, and again with a wrong canary
password, so every AUTH path (successful and failed) has run. Then the log must hold the protocol
conversation and none of the passwords, at any base64 offset.

Then every command that authenticates runs the same way, in a home directory of its own (HOME and
every XDG directory inside the test's directory, config and store at their default places):
`sync` (headers, then a resync with body downloads), `fetch`, `send` (SMTP, and the Sent copy
APPENDed over IMAP), `outbox flush`, each with good accounts and with accounts whose password is
wrong. Afterwards the passwords are in no byte of: the log, stdout and stderr, and every file
under that home (config, store with its -wal and -shm, locks, state, cache, temporary files).
The password commands themselves record what they can see of tuimail: its command line (the
process title) and its environment, and the environment they were given; none holds a password.
The app, driven by Pilot against the real servers with the debug log on, is checked the same way.

tuimail logs in with PLAIN and LOGIN only; XOAUTH2 and OAUTHBEARER join these tests when they
exist.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import imapclient
import pytest

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tests.support.sandbox import (
    _CLEARED,
    CANARY,
    Sandbox,
    incoming_message,
    outgoing_message,
    sandbox_config,
)
from tuimail.app.application import TuimailApp
from tuimail.config.load import load_config
from tuimail.core.log import base64_cores, setup_logging
from tuimail.store import body_codec, outbox
from tuimail.store.db import open_store, open_store_for_reading
from tuimail.store.outbox import OutboxState
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration


def account_tables(
    name: str, user: str, password: str, servers: MailServers, incoming: str, security: str
) -> str:
    """One account with an incoming server (`incoming` = imap/pop3) and SMTP, same security."""
    host = servers.plain_host if security == "none" else servers.host
    incoming_port = {
        ("imap", "tls"): servers.imaps_port,
        ("imap", "starttls"): servers.imap_port,
        ("imap", "none"): servers.imap_port,
        ("pop3", "tls"): servers.pop3s_port,
        ("pop3", "starttls"): servers.pop3_port,
        ("pop3", "none"): servers.pop3_port,
    }[incoming, security]
    smtp_port = servers.smtps_port if security == "tls" else servers.submission_port
    command = "printf '%s\\n' " + shlex.quote(password)
    return f"""
[accounts.{name}]
address = "{user}@{servers.domain}"
ca_file = {json.dumps(str(servers.ca_file))}
password_command = {json.dumps(command)}

[accounts.{name}.{incoming}]
host = "{host}"
port = {incoming_port}
security = "{security}"
username = "{user}"

[accounts.{name}.smtp]
host = "{host}"
port = {smtp_port}
security = "{security}"
username = "{user}"
"""


def forbidden_forms(password: str) -> list[str]:
    """The password as text, and every base64 core that any encoding of it must contain."""
    return [password, *base64_cores(password.encode())]


def test_debug_log_never_holds_a_password(mail_servers: MailServers, tmp_path: Path) -> None:
    alice = mail_servers.users["alice"]
    config = ""
    for incoming in ("imap", "pop3"):
        for security in ("tls", "starttls", "none"):
            config += account_tables(
                f"good-{incoming}-{security}", "alice", alice, mail_servers, incoming, security
            )
            config += account_tables(
                f"canary-{incoming}-{security}", "bob", CANARY, mail_servers, incoming, security
            )
    config_file = tmp_path / "config.toml"
    config_file.write_text(config)
    log_file = tmp_path / "tuimail.core.log"

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuimail",
            "--debug",
            "--log-file",
            str(log_file),
            "--config",
            str(config_file),
            "accounts",
            "check",
            "--timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = log_file.read_text()

    # The run did what it should: every good server ok, every canary login refused.
    lines = result.stdout.splitlines()
    assert len(lines) == 24, result.stdout + result.stderr
    assert all(line.endswith(" ok") for line in lines if line.startswith("good-")), result.stdout
    canary_lines = [line for line in lines if line.startswith("canary-")]
    assert all("failed: wrong user name or password" in line for line in canary_lines), lines
    assert result.returncode == 1

    # The log really holds the conversation of every protocol (or this test would prove nothing).
    assert "imapclient" in log and "LOGIN" in log and "CAPABILITY" in log
    # POP3 logs in with AUTH PLAIN where offered (Dovecot does), its argument hidden.
    assert "tuimail.sync.wire.pop3" in log and "> AUTH PLAIN <hidden>" in log
    assert "tuimail.sync.wire.smtp" in log and "> EHLO" in log and "> AUTH " in log
    wire = [line.split("] ", 1)[-1] for line in log.splitlines() if ".sync.wire." in line]
    assert {"> STLS", "> STARTTLS", "> AUTH PLAIN <hidden>"} <= set(wire)

    for password in (alice, CANARY):
        for form in forbidden_forms(password):
            for name, text in (("log", log), ("stdout", result.stdout), ("stderr", result.stderr)):
                assert form not in text, f"{form!r} (from a password) found in {name}"


# --- every command, every file ----------------------------------------------------------------


def find_passwords(
    passwords: Iterable[str], places: Iterable[tuple[str, bytes]]
) -> list[tuple[str, str]]:
    """(place, form) for every password form found in any place's bytes."""
    forms = [(form.encode(), form) for password in passwords for form in forbidden_forms(password)]
    return [(name, text) for name, data in places for raw, text in forms if raw in data]


def test_no_command_leaves_a_password_anywhere(mail_servers: MailServers, tmp_path: Path) -> None:
    users = {
        "home": mail_servers.add_user("sechome"),
        "pop": mail_servers.add_user("secpop"),
        "wrong": mail_servers.add_user("secwrong"),
    }
    for number in (1, 2):
        mail_servers.deliver(users["home"], incoming_message(number, users["home"], mail_servers))
        mail_servers.deliver(users["pop"], incoming_message(number, users["pop"], mail_servers))
    sandbox = Sandbox(tmp_path)
    sandbox.write_config(sandbox_config(sandbox, mail_servers, users))
    outgoing = tmp_path / "vault" / "outgoing.eml"
    outgoing.write_bytes(outgoing_message(mail_servers.address(users["pop"]), "secrets sent"))

    # IMAP: a first sync (headers), new mail, a resync that downloads every body.
    first = sandbox.run("sync")
    assert first.returncode == 1, first.stderr  # `wrong` failed, `home` synced
    mail_servers.deliver(users["home"], incoming_message(3, users["home"], mail_servers))
    resync = sandbox.run("sync", "--bodies")
    assert resync.returncode == 1, resync.stderr
    # POP3, once with the debug conversation on the terminal instead of the log file.
    fetched = sandbox.run("fetch")
    assert fetched.returncode == 1, fetched.stderr
    mail_servers.deliver(users["pop"], incoming_message(3, users["pop"], mail_servers))
    fetched_again = sandbox.run("fetch", debug_to_terminal=True)
    assert fetched_again.returncode == 1, fetched_again.stderr
    assert b"AUTH PLAIN <hidden>" in fetched_again.stderr
    # SMTP with the Sent copy over IMAP; then a refused login at `outbox flush`.
    sent = sandbox.run("send", "--now", "--account", "home", str(outgoing))
    assert sent.returncode == 0, sent.stderr
    queued = sandbox.run("send", "--queue-only", "--now", "--account", "wrong", str(outgoing))
    assert queued.returncode == 0, queued.stderr
    flushed = sandbox.run("outbox", "flush")
    assert flushed.returncode == 1, flushed.stderr
    # A sync that dies after committing bodies leaves the store's -wal and -shm for the search.
    mail_servers.deliver(users["home"], incoming_message(4, users["home"], mail_servers))
    sandbox.run("sync", "--bodies", "home", crash_at="imap.bodies_committed")

    # The runs did what they should (or the search below would prove nothing).
    log = sandbox.log_file.read_text()
    assert "imapclient" in log and "LOGIN" in log and "BODY.PEEK[]" in log and "APPEND" in log
    assert "> AUTH PLAIN <hidden>" in log and "tuimail.sync.wire.smtp" in log
    assert "wrong user name or password" in log
    home_sent = _sent_folder_message_ids(mail_servers, users["home"])
    assert len(home_sent) == 1
    store_files = {path.name for path in sandbox.data_dir.iterdir()}
    assert {"tuimail.db", "tuimail.db-wal", "tuimail.db-shm", "locks"} <= store_files
    # The mail is in the store (packed: read back through it, not found in the files' bytes).
    assert any(b"Body number 3, to be downloaded." in raw for raw in _bodies(sandbox.data_dir))
    records = sandbox.probe_records()
    # Every password command ran with a probe: processes that already held a password included.
    assert len(records) >= 12
    assert all("tuimail" in record.partition("== environ")[0] for record in records)

    places: list[tuple[str, bytes]] = [
        (str(path.relative_to(sandbox.root)), path.read_bytes()) for path in sandbox.files()
    ]
    for index, run in enumerate(sandbox.runs):
        places += [(f"run {index} stdout", run.stdout), (f"run {index} stderr", run.stderr)]
    places += [(f"password command record {i}", r.encode()) for i, r in enumerate(records)]
    assert any(name.endswith("tuimail.core.log") for name, _ in places)
    assert find_passwords(sandbox.passwords, places) == []


def _sent_folder_message_ids(servers: MailServers, user: str) -> list[bytes]:
    with imapclient.IMAPClient(
        servers.host, servers.imaps_port, ssl_context=servers.client_ssl_context(), timeout=20
    ) as client:
        client.login(user, servers.users[user])
        client.select_folder("Sent", readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        return [item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"] for item in fetched.values()]


def _bodies(data_dir: Path) -> list[bytes]:
    """Every body the store holds, as read back (the store keeps them packed)."""
    conn, _ = open_store_for_reading(data_dir)
    try:
        rows = conn.execute("SELECT raw, codec, dict_id FROM bodies").fetchall()
        return [body_codec.unpack(conn, *row) for row in rows]
    finally:
        conn.close()


# --- the app --------------------------------------------------------------------------------


async def test_the_app_with_the_debug_log_leaves_no_password_anywhere(
    mail_servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's workers against the real servers, as `tuimail --debug --log-file F` runs it:
    an IMAP sync, a body downloaded for the view, a queued message sent (SMTP and the Sent
    APPEND), and the `wrong` account's refused IMAP and SMTP logins."""
    users = {"home": mail_servers.add_user("secapp"), "wrong": mail_servers.add_user("secappwr")}
    recipient = mail_servers.add_user("secapprcpt")
    mail_servers.deliver(users["home"], incoming_message(1, users["home"], mail_servers))
    sandbox = Sandbox(tmp_path)
    sandbox.write_config(sandbox_config(sandbox, mail_servers, users, names=("home", "wrong")))
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    for key in _CLEARED:
        monkeypatch.delenv(key, raising=False)
    outgoing = tmp_path / "vault" / "outgoing.eml"
    outgoing.write_bytes(outgoing_message(mail_servers.address(recipient), "sent by the app"))
    for account in ("home", "wrong"):
        queued = sandbox.run("send", "--queue-only", "--now", "--account", account, str(outgoing))
        assert queued.returncode == 0, queued.stderr
    config = load_config(sandbox.config_file, must_exist=True)
    app_log = sandbox.state_dir / "app.log"

    def outbox_settled() -> bool:
        conn = open_store(sandbox.data_dir)
        try:
            home = outbox.items(conn)[0]  # queued first
        finally:
            conn.close()
        return home.state is OutboxState.SENT and home.sent_copy_done

    def both_logins_refused() -> bool:
        log = app_log.read_text()
        return "535 5.7.8" in log and "[AUTHENTICATIONFAILED]" in log

    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    setup_logging(app_log, debug=True)
    try:
        app = TuimailApp(config, sandbox.data_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            table = app.screen.query_one(MessageList)
            await wait_for(pilot, lambda: len(table.ids) == 1)
            body = app.screen.query_one("#view-body")
            await wait_for(pilot, lambda: "to be downloaded" in str(body.render()))
            await wait_for(pilot, outbox_settled)
            await wait_for(pilot, both_logins_refused)
            screen = app.export_screenshot()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        logging.captureWarnings(False)

    log = app_log.read_text()
    assert "imapclient" in log and "LOGIN" in log and "APPEND" in log
    assert "tuimail.sync.wire.smtp" in log and "> AUTH " in log
    assert len(_sent_folder_message_ids(mail_servers, users["home"])) == 1
    places = [(str(path.relative_to(sandbox.root)), path.read_bytes()) for path in sandbox.files()]
    places.append(("the app's screen", screen.encode()))
    places += [
        (f"password command record {i}", r.encode()) for i, r in enumerate(sandbox.probe_records())
    ]
    assert any(name.endswith("app.log") for name, _ in places)
    assert find_passwords(sandbox.passwords, places) == []


def test_a_dictionary_word_password_is_hidden_but_not_inside_other_words(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    """The password "keyring" of accounts named gnome-keyring-…: the log keeps the names whole
    (no "gnome-<redacted>", which would tell the password) and holds no form of the password."""
    password = "keyring"
    config = "".join(
        account_tables(f"gnome-keyring-{incoming}", "bob", password, mail_servers, incoming, "tls")
        for incoming in ("imap", "pop3")
    )
    config_file = tmp_path / "config.toml"
    config_file.write_text(config)
    log_file = tmp_path / "tuimail.core.log"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "tuimail", "--debug", "--log-file", str(log_file)),
            *("--config", str(config_file), "accounts", "check", "--timeout", "10"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = log_file.read_text()
    assert "failed: wrong user name or password" in result.stdout, result.stdout + result.stderr
    assert "gnome-keyring-imap" in log and "gnome-keyring-pop3" in log
    assert "gnome-<redacted>" not in log
    # Every "keyring" left in the log is part of an account name, never the password on its own.
    assert log.count(password) == log.count("gnome-keyring-")
    for core in base64_cores(password.encode()):
        assert core not in log
