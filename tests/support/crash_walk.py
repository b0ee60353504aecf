"""A program run that is killed at a crash point and run again: its data directory, config and
the servers' state."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.mailservers import MailServers
from tests.support.snapshots import (
    imap_client,
)
from tuimail.core.crashpoint import ENV_VAR

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "walk"


# Messages per IMAP header, IMAP body and POP3 commit batch in these runs (and POP3 RETRs in
# flight: the answers in flight are read into the batch before it is committed).
BATCH = 2


# `python -m tuimail ARGS`, with smaller batches (the engines' defaults are sized for large
# mailboxes; a crash between two batches needs more than one).
_CLI = f"""
import sys
import tuimail.sync.imap.account as imap
import tuimail.sync.pop3.download as pop3
imap.ImapSync.__init__.__kwdefaults__.update(
    first_page={BATCH}, header_batch={BATCH}, body_batch={BATCH}
)
pop3.BATCH_MESSAGES = pop3.PIPELINE_DEPTH = {BATCH}
from tuimail.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


# One drafts pass, as the app runs it after the composer closed (there is no command for it).
_DRAFTS_PASS = """
import sys
from pathlib import Path
from tuimail.config.load import load_config
from tuimail.sync.imap.drafts import sync_drafts
config = load_config(Path(sys.argv[1]), must_exist=True)
result = sync_drafts(config.accounts[sys.argv[3]], Path(sys.argv[2]), lambda event: None)
print(result)
sys.exit(1 if result.error else 0)
"""


@dataclass
class Run:
    """One play of a scenario: its users, config file, data directory and notes."""

    servers: MailServers
    directory: Path
    users: dict[str, str] = field(default_factory=dict)  # role -> Dovecot user
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.directory / "config.toml"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def password(self, role: str) -> str:
        return self.servers.users[self.users[role]]

    def client(self, role: str = "me") -> Any:
        return imap_client(
            self.servers.host,
            self.servers.imaps_port,
            self.servers.ca_file,
            self.users[role],
            self.password(role),
        )

    def tuimail(self, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
        common = ["--config", str(self.config), "--data-dir", str(self.data)]
        return _run([sys.executable, "-c", _CLI, *common, *args], crash_at)

    def drafts_pass(self, *, crash_at: str | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", _DRAFTS_PASS, str(self.config), str(self.data), ACCOUNT]
        return _run(command, crash_at)


def _run(command: list[str], crash_at: str | None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    env["PYTHONPATH"] = str(ROOT)
    if crash_at is not None:
        env[ENV_VAR] = crash_at
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _password_command(servers: MailServers, user: str) -> str:
    return json.dumps("printf '%s\\n' " + shlex.quote(servers.users[user]))


def write_config(run: Run, *, incoming: str, smtp: bool = False, leave: bool = True) -> None:
    """The account `walk` of the user `me`: IMAP or POP3 over implicit TLS, maybe SMTP."""
    servers, user = run.servers, run.users["me"]
    text = f"""
[accounts.{ACCOUNT}]
address = "{servers.address(user)}"
ca_file = {json.dumps(str(servers.ca_file))}
password_command = {_password_command(servers, user)}
"""
    if incoming == "imap":
        text += f"""
[accounts.{ACCOUNT}.imap]
host = "{servers.host}"
port = {servers.imaps_port}
username = "{user}"
"""
    else:
        text += f"""
[accounts.{ACCOUNT}.pop3]
host = "{servers.host}"
port = {servers.pop3s_port}
username = "{user}"
leave_on_server = {"true" if leave else "false"}
"""
    if smtp:
        text += f"""
[accounts.{ACCOUNT}.smtp]
host = "{servers.host}"
port = {servers.submission_port}
security = "starttls"
username = "{user}"
"""
    run.config.write_text(text, encoding="utf-8")


def settle(servers: MailServers) -> None:
    from tests.support.smtp_send import settle as drain

    drain(servers)
