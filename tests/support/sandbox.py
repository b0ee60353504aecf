"""A sandboxed run of the program on the test servers (its own home, config and log), with
messages to receive and to send."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.mailservers import MailServers
from tuimail.core.crashpoint import CRASH_EXIT_CODE, ENV_VAR, KNOWN_CRASHPOINTS

CANARY = "Canary-Pw-9f3b1c"
ROOT = Path(__file__).resolve().parents[2]


# Variables that would send tuimail somewhere other than the sandbox's default places.
_CLEARED = ("TUIMAIL_CONFIG", "TUIMAIL_DATA_DIR", ENV_VAR, "XDG_CONFIG_DIRS", "XDG_DATA_DIRS")


# A password command that also writes down what it can see of tuimail, its parent: the command
# line (what `ps` shows as the process title), the environment tuimail started with, and the
# environment tuimail passed on to it. Arguments: tuimail's PID, the file holding the password.
_PROBE = """#!/bin/sh
record=$(mktemp "{probes}/probe.XXXXXX")
{{
  echo '== cmdline'; tr '\\0' '\\n' < "/proc/$1/cmdline"; echo
  echo '== environ'; tr '\\0' '\\n' < "/proc/$1/environ"; echo
  echo '== env'; env
}} > "$record"
cat "$2"
"""


@dataclass
class Sandbox:
    """A home directory of its own for tuimail processes: HOME, every XDG directory and TMPDIR
    point inside it, so whatever tuimail writes anywhere by default ends up there.

    Password files and the password commands' records live beside it (`vault`), never in it: a
    password in the home directory could only have been put there by tuimail.
    """

    root: Path
    passwords: list[str] = field(default_factory=list)
    runs: list[subprocess.CompletedProcess[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for directory in (self.home, self.vault, self.probes, self.home / "tmp"):
            directory.mkdir(parents=True, exist_ok=True)
        self.probe.write_text(_PROBE.format(probes=self.probes))
        self.probe.chmod(0o700)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def vault(self) -> Path:
        return self.root / "vault"

    @property
    def probes(self) -> Path:
        return self.vault / "probes"

    @property
    def probe(self) -> Path:
        return self.vault / "password-probe"

    @property
    def config_dir(self) -> Path:
        return self.home / ".config" / "tuimail"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def data_dir(self) -> Path:
        return self.home / ".local" / "share" / "tuimail"

    @property
    def state_dir(self) -> Path:
        return self.home / ".local" / "state" / "tuimail"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "tuimail.core.log"

    def env(self) -> dict[str, str]:
        """The environment of a tuimail process in the sandbox."""
        env = {key: value for key, value in os.environ.items() if key not in _CLEARED}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            XDG_STATE_HOME=str(self.home / ".local" / "state"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            TMPDIR=str(self.home / "tmp"),
            PYTHONPATH=str(ROOT),
        )
        return env

    def password_command(self, name: str, password: str) -> str:
        """A password command printing `password` (kept in the vault) and recording what it
        sees of the tuimail process that runs it."""
        self.passwords.append(password)
        secret_file = self.vault / f"{name}.password"
        secret_file.write_text(password + "\n")
        # $PPID: the shell running the command is tuimail's child, so its parent is tuimail.
        return f"{shlex.quote(str(self.probe))} $PPID {shlex.quote(str(secret_file))}"

    def write_config(self, text: str) -> None:
        self.config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.config_file.write_text(text)

    def run(
        self,
        *args: str,
        crash_at: str | None = None,
        debug_to_terminal: bool = False,
        umask: int = -1,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `tuimail ARGS` with the debug log on (into the state directory, or with
        `debug_to_terminal` onto stderr) and record its terminal output."""
        env = self.env()
        if crash_at is not None:
            assert crash_at.partition(":")[0] in KNOWN_CRASHPOINTS
            env[ENV_VAR] = crash_at
        logging_args = ["--debug"]
        if not debug_to_terminal:
            logging_args += ["--log-file", str(self.log_file)]
        result = subprocess.run(
            [sys.executable, "-m", "tuimail", *logging_args, *args],
            env=env,
            cwd=self.home,
            input=stdin,
            capture_output=True,
            timeout=180,
            check=False,
            umask=umask,
        )
        self.runs.append(result)
        if crash_at is not None:
            assert result.returncode == CRASH_EXIT_CODE, result.stderr.decode(errors="replace")
        return result

    def files(self) -> Iterator[Path]:
        """Every regular file under the home directory."""
        for directory, _, names in os.walk(self.home):
            for name in names:
                path = Path(directory, name)
                if path.is_file() and not path.is_symlink():
                    yield path

    def probe_records(self) -> list[str]:
        return [path.read_text(errors="replace") for path in sorted(self.probes.iterdir())]


def incoming_message(number: int, user: str, servers: MailServers) -> bytes:
    return (
        f"From: Sender {number} <sender{number}@tuimail.test>\r\n"
        f"To: {servers.address(user)}\r\n"
        f"Subject: secrets test {number}\r\n"
        f"Date: Mon, {number:02d} Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <secrets-{number}-{user}@tuimail.test>\r\n"
        "\r\n"
        f"Body number {number}, to be downloaded.\r\n"
    ).encode()


def server_table(
    name: str, protocol: str, servers: MailServers, user: str, security: str, port: int
) -> str:
    host = servers.plain_host if security == "none" else servers.host
    return (
        f"[accounts.{name}.{protocol}]\n"
        f'host = "{host}"\nport = {port}\nsecurity = "{security}"\nusername = "{user}"\n'
    )


def sandbox_config(
    sandbox: Sandbox,
    servers: MailServers,
    users: dict[str, str],
    names: Iterable[str] = ("home", "pop", "wrong", "wrongpop"),
) -> str:
    """Up to four accounts: `home` (IMAP + SMTP) and `pop` (POP3 + SMTP) with their users' real
    passwords; `wrong` (IMAP + SMTP, no TLS) and `wrongpop` (POP3) with the canary instead."""
    text = ""
    for name, user, password in (
        ("home", users.get("home", ""), servers.users.get(users.get("home", ""), "")),
        ("pop", users.get("pop", ""), servers.users.get(users.get("pop", ""), "")),
        ("wrong", users["wrong"], CANARY),
        ("wrongpop", users["wrong"], CANARY),
    ):
        if name not in names:
            continue
        text += (
            f"[accounts.{name}]\n"
            f'address = "{servers.address(user)}"\n'
            f"ca_file = {json.dumps(str(servers.ca_file))}\n"
            f"password_command = {json.dumps(sandbox.password_command(name, password))}\n"
        )
        text += {
            "home": server_table(name, "imap", servers, user, "tls", servers.imaps_port)
            + server_table(name, "smtp", servers, user, "starttls", servers.submission_port),
            "pop": server_table(name, "pop3", servers, user, "starttls", servers.pop3_port)
            + server_table(name, "smtp", servers, user, "tls", servers.smtps_port),
            "wrong": server_table(name, "imap", servers, user, "none", servers.imap_port)
            + server_table(name, "smtp", servers, user, "none", servers.submission_port),
            "wrongpop": server_table(name, "pop3", servers, user, "tls", servers.pop3s_port),
        }[name]
        text += "\n"
    return text


def outgoing_message(to: str, subject: str) -> bytes:
    return f"To: {to}\nSubject: {subject}\n\nHello from the secrets test.\n".encode()
