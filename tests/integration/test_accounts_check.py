"""`tuimail accounts check` against the real servers: one good account, several kinds of bad.

Passwords come from password commands, so no keyring is involved.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.proxy import Faults, hide_capability
from tuimail.config.load import parse_config
from tuimail.config.schema import Config
from tuimail.sync.check import check_command

pytestmark = pytest.mark.integration


def toml_string(text: str) -> str:
    """A TOML basic string holding `text` (JSON escaping is valid TOML for these values)."""
    return json.dumps(text)


def printing(password: str) -> str:
    """A password_command (as a TOML string) that prints `password`."""
    return toml_string("printf '%s\\n' " + shlex.quote(password))


def write_config(path: Path, servers: MailServers, *, only_good: bool = False) -> Config:
    alice, bob = servers.users["alice"], servers.users["bob"]
    ca_file = toml_string(str(servers.ca_file))
    good = f"""
[accounts.good]
address = "alice@{servers.domain}"
ca_file = {ca_file}
password_command = {printing(alice)}

[accounts.good.imap]
host = "{servers.host}"
port = {servers.imap_port}
security = "starttls"
username = "alice"

[accounts.good.smtp]
host = "{servers.host}"
port = {servers.smtps_port}
username = "alice"
"""
    bad = f"""
[accounts.notes]
address = "notes@example.org"

[accounts.wrong-pw]
address = "bob@{servers.domain}"
ca_file = {ca_file}
password_command = {printing("not-bobs-password")}

[accounts.wrong-pw.pop3]
host = "{servers.host}"
port = {servers.pop3s_port}
username = "bob"

[accounts.expired]
address = "bob@{servers.domain}"
ca_file = {ca_file}
password_command = {printing(bob)}

[accounts.expired.imap]
host = "{servers.expired_host}"
port = {servers.imaps_port}
username = "bob"

[accounts.no-pw]
address = "bob@{servers.domain}"
ca_file = {ca_file}
password_command = "echo 'vault is locked' >&2; exit 2"

[accounts.no-pw.smtp]
host = "{servers.host}"
port = {servers.submission_port}
security = "starttls"
username = "bob"
"""
    text = good if only_good else good + bad
    path.write_text(text)
    return parse_config(text, path)


def columns(line: str) -> list[str]:
    """account, protocol, host:port, security, status (columns are at least 2 spaces apart)."""
    return re.split(r"\s{2,}", line, maxsplit=4)


def expected_lines(servers: MailServers) -> list[list[str]]:
    host = servers.host
    return [
        ["good", "IMAP", f"{host}:{servers.imap_port}", "starttls", "ok"],
        ["good", "SMTP", f"{host}:{servers.smtps_port}", "tls", "ok"],
        ["notes", "local account (no servers to check)"],
        [
            "wrong-pw",
            "POP3",
            f"{host}:{servers.pop3s_port}",
            "tls",
            "failed: wrong user name or password for 'bob' "
            "(server said: -ERR [AUTH] Authentication failed.)",
        ],
        [
            "expired",
            "IMAP",
            f"{servers.expired_host}:{servers.imaps_port}",
            "tls",
            # The date itself is checked in test_connect; here, that it is there.
            "failed: certificate expired on ",
        ],
        [
            "no-pw",
            "SMTP",
            f"{host}:{servers.submission_port}",
            "starttls",
            "failed: accounts.no-pw.password_command: the command failed with exit status 2: "
            "vault is locked",
        ],
    ]


def assert_report(output: str, servers: MailServers) -> None:
    lines = output.splitlines()
    rows = [columns(line) for line in lines]
    expected = expected_lines(servers)
    assert len(rows) == len(expected), output
    for row, want in zip(rows, expected, strict=True):
        if want[-1].endswith("expired on "):
            assert row[:-1] == want[:-1]
            assert re.fullmatch(r"failed: certificate expired on \d{4}-\d{2}-\d{2}", row[-1])
        else:
            assert row == want, output
    # Columns line up: every server line has its protocol, address and security at one offset.
    server_lines = [line for line in lines if "local account" not in line]
    for token_index in (1, 2, 3):
        offsets = {line.index(columns(line)[token_index]) for line in server_lines}
        assert len(offsets) == 1, output


def test_check_command_reports_every_server(mail_servers: MailServers, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", mail_servers)
    out = io.StringIO()
    assert check_command(config, out, timeout=10) is False
    assert_report(out.getvalue(), mail_servers)


def test_check_command_all_good(mail_servers: MailServers, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", mail_servers, only_good=True)
    out = io.StringIO()
    assert check_command(config, out, timeout=10) is True
    assert [columns(line)[-1] for line in out.getvalue().splitlines()] == ["ok", "ok"]


def test_accounts_check_command_line(mail_servers: MailServers, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_config(path, mail_servers)
    result = subprocess.run(
        [sys.executable, "-m", "tuimail", "--config", str(path), "accounts", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert_report(result.stdout, mail_servers)
    assert result.stderr == ""

    write_config(path, mail_servers, only_good=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuimail",
            "accounts",
            "check",
            "--timeout",
            "10",
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" ok\n") == 2


def test_a_non_ascii_password_without_auth_plain_is_explained(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    # IMAP LOGIN carries ASCII only; with AUTH=PLAIN hidden, no login can carry this password.
    hidden = Faults(rewrite_line=hide_capability("AUTH=PLAIN"))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port, server=hidden)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[accounts.intl]\naddress = "alice@{mail_servers.domain}"\n'
        f"password_command = {printing('pässwörd')}\n"
        f'[accounts.intl.imap]\nhost = "{proxy.host}"\nport = {proxy.port}\n'
        'security = "none"\nusername = "alice"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "tuimail", "--config", str(config), "accounts", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith("intl  IMAP  ")
    assert line.endswith(
        "failed: the password has characters other than ASCII, and the server offers no login "
        "that can carry them (IMAP LOGIN takes ASCII only; there is no AUTH=PLAIN and no "
        "UTF8=ACCEPT)"
    )
    sent = b"".join(bytes(c.from_client) for c in proxy.connections)
    assert b"LOGIN" not in sent and "pässwörd".encode() not in sent
