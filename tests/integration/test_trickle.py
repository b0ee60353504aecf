"""A server that trickles (one byte a second, never finishing) cannot hang tuimail.

The fault proxy sits in front of the real Dovecot and, from a chosen point of the server's
stream on (the greeting, a LIST answer, a FETCH answer, the inside of a literal, a POP3 RETR
answer), forwards one byte a second: every read is on time, no answer ever ends. `tuimail sync`,
`tuimail fetch` and `tuimail accounts check` must give up within the account's
`command_timeout`, say what timed out, release the account's lock (a second run is not "busy")
and keep nothing half-stored; in the app the status bar says so in words, and quitting does not
wait for the server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.imap_sync import ACCOUNT, FaultProxyFactory, append, proxied, write_config
from tests.support.mailservers import MailServers
from tests.support.pop3_download import make_message
from tests.support.proxy import FaultProxy, Faults
from tests.support.terminal import PtyApp
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.ui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.integration

COMMAND_TIMEOUT = 2  # seconds: each run below ends soon after it
READ_TIMEOUT = 5  # longer than the proxy's one second between bytes: it never trips
# Without a command deadline a run would last minutes (a byte a second, for ever): this bound
# turns that hang into a failure.
RUN_LIMIT = 20
TIMEOUTS = f"timeout = {READ_TIMEOUT}\ncommand_timeout = {COMMAND_TIMEOUT}\n"

# Where the trickle starts in the server's stream, and the words the error must hold.
IMAP_POINTS = {
    "greeting": (b"", "did not finish its greeting within 2 s"),
    "LIST answer": (rb"\* LIST ", "did not finish its answer to LIST within 2 s"),
    "FETCH answer": (rb"\* \d+ FETCH ", "did not finish its answer to FETCH within 2 s"),
    "literal": (
        rb"\* \d+ FETCH \([^\r\n]*\{\d+\}\r\n",
        "did not finish its answer to FETCH within 2 s",
    ),
}
POP3_POINTS = {
    "greeting": (b"", "did not finish its greeting within 2 s"),
    "RETR answer": (rb"\+OK \d+ octets\r\n", "did not finish its answer to RETR within 2 s"),
}


def tuimail(config: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tuimail --config CONFIG --data-dir DATA ARGS...`, bounded by RUN_LIMIT."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TUIMAIL_")}
    command = [sys.executable, "-m", "tuimail", "--config", str(config)]
    return subprocess.run(
        [*command, "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT,
        check=False,
    )


def subjects(data_dir: Path) -> list[str]:
    """The subject of every message stored for the account, sorted."""
    conn = open_store(data_dir)
    try:
        found: list[str] = []
        for folder in read.folders(conn):
            rows = read.rows(conn, read.message_ids(conn, folder.id))
            found += [row.envelope.subject for row in rows]
        return sorted(found)
    finally:
        conn.close()


def stop_trickling(proxy: FaultProxy) -> None:
    """Later connections pass through untouched (faults are read per connection)."""
    proxy.server = Faults()


@pytest.mark.parametrize("point", list(IMAP_POINTS))
def test_sync_gives_up_on_a_trickling_imap_server(
    point: str, mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    pattern, words = IMAP_POINTS[point]
    box, proxy = proxied(
        mail_servers, fault_proxy, server=Faults(trickle_after=pattern, trickle_every=1.0)
    )
    append(box, 3)
    config = write_config(box, tmp_path / "config.toml")
    with config.open("a", encoding="utf-8") as file:
        file.write(TIMEOUTS)
    data = tmp_path / "data"

    first = tuimail(config, data, "sync")
    assert first.returncode == 1
    assert words in first.stderr, first.stderr
    assert "timed out" in first.stderr
    # Nothing half-stored: whatever was kept is whole (nothing, as the first batch never ended).
    expected = sorted(f"message {number}" for number in range(3))
    assert set(subjects(data)) <= set(expected)

    stop_trickling(proxy)
    second = tuimail(config, data, "sync")
    assert "busy" not in second.stderr, "the first run left the account locked"
    assert second.returncode == 0, second.stderr
    assert subjects(data) == expected


def pop3_config(mail_servers: MailServers, user: str, proxy: FaultProxy) -> str:
    """A POP3 account "home" for `user`, reached in plain text through `proxy`."""
    name = "home"
    password = shlex.quote(mail_servers.users[user])
    return (
        f"[accounts.{name}]\n"
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"[accounts.{name}.pop3]\n"
        f'host = "{proxy.host}"\nport = {proxy.port}\nsecurity = "none"\nusername = "{user}"\n'
        + TIMEOUTS
    )


@pytest.mark.parametrize("point", list(POP3_POINTS))
def test_fetch_gives_up_on_a_trickling_pop3_server(
    point: str, mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    pattern, words = POP3_POINTS[point]
    user = mail_servers.add_user("trickle")
    for number in range(3):
        mail_servers.deliver(user, make_message(number))
    proxy = fault_proxy(
        mail_servers.plain_host,
        mail_servers.pop3_port,
        server=Faults(trickle_after=pattern, trickle_every=1.0),
    )
    config = tmp_path / "config.toml"
    config.write_text(pop3_config(mail_servers, user, proxy), encoding="utf-8")
    data = tmp_path / "data"

    first = tuimail(config, data, "fetch")
    assert first.returncode == 1
    assert words in first.stderr + first.stdout, first.stderr
    assert subjects(data) == [], "a message whose RETR never ended was not stored"

    stop_trickling(proxy)
    second = tuimail(config, data, "fetch")
    assert "busy" not in second.stderr, "the first run left the account locked"
    assert second.returncode == 0, second.stderr
    assert subjects(data) == sorted(f"Report number {number}" for number in range(3))


def test_accounts_check_gives_up_on_trickling_greetings(
    mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    trickle = Faults(trickle_after=b"", trickle_every=1.0)
    imap_user = mail_servers.add_user("trickleimap")
    pop3_user = mail_servers.add_user("tricklepop")
    imap_proxy = fault_proxy(mail_servers.plain_host, mail_servers.imap_port, server=trickle)
    pop3_proxy = fault_proxy(mail_servers.plain_host, mail_servers.pop3_port, server=trickle)
    imap_password = shlex.quote(mail_servers.users[imap_user])
    config = tmp_path / "config.toml"
    config.write_text(
        "[accounts.office]\n"
        f'address = "{imap_user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + imap_password)}\n"
        "[accounts.office.imap]\n"
        f'host = "{imap_proxy.host}"\nport = {imap_proxy.port}\nsecurity = "none"\n'
        f'username = "{imap_user}"\n' + TIMEOUTS + pop3_config(mail_servers, pop3_user, pop3_proxy),
        encoding="utf-8",
    )

    result = tuimail(config, tmp_path / "data", "accounts", "check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for account, protocol in (("office", "IMAP"), ("home", "POP3")):
        (line,) = [line for line in lines if line.startswith(account)]
        assert protocol in line
        assert re.search(r"failed: timed out: .* did not finish its greeting within 2 s", line)


async def test_the_app_says_a_trickling_server_timed_out(
    mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    box, _ = proxied(mail_servers, fault_proxy, server=Faults(trickle_after=rb"\* LIST "))
    append(box, 1)
    config_text = write_config(box, tmp_path / "config.toml").read_text(encoding="utf-8")
    config = parse_config(config_text + TIMEOUTS)
    app = TuimailApp(config, tmp_path / "data")
    async with app.run_test(size=(120, 36)) as pilot:
        bar = app.screen.query_one(StatusBar)

        def shown() -> str:
            entry = bar.entry(ACCOUNT)
            return entry[1] if entry is not None else ""

        for _ in range(RUN_LIMIT * 20):
            if "did not finish its answer to LIST" in shown():
                break
            await pilot.pause(0.05)
        assert "timed out" in shown() and "within 2 s" in shown(), shown()
        await pilot.press("q")


def test_quitting_the_app_does_not_wait_for_a_trickling_server(
    mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    # The default command_timeout (minutes): quitting must not wait for it.
    box, proxy = proxied(mail_servers, fault_proxy, server=Faults(trickle_after=rb"\* LIST "))
    append(box, 1)
    config = write_config(box, tmp_path / "config.toml")
    home = tmp_path / "home"
    home.mkdir()
    app = PtyApp(
        [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(tmp_path)],
        env={"HOME": str(home), "COLORTERM": ""},
    )
    try:
        app.wait_for_text("getting mail", seconds=RUN_LIMIT)
        proxy.wait_for_connections(1, timeout=RUN_LIMIT)
        # The sync is inside the trickling LIST answer now.
        for _ in range(RUN_LIMIT * 10):
            if b"* LIST " in proxy.to_client:
                break
            app.read_for(0.1)
        assert b"* LIST " in proxy.to_client
        assert app.quit(timeout=10) == 0
    finally:
        app.close()
