"""No password reaches a log, stdout or stderr, in plain text or base64, in any protocol or mode.

`tuimail --debug --log-file F accounts check` logs in to every server (IMAP, POP3, SMTP; implicit
TLS, STARTTLS and plain loopback) with the right password, and again with a wrong canary
password, so every AUTH path (successful and failed) has run. Then the log must hold the protocol
conversation and none of the passwords, at any base64 offset.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tuimail.log import base64_cores

pytestmark = pytest.mark.integration

CANARY = "Canary-Pw-9f3b1c"


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
    log_file = tmp_path / "tuimail.log"

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
