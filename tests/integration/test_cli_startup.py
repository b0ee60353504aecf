"""What a headless `tuimail sync` and `tuimail fetch` with nothing new load, on the real Dovecot.

A short run is mostly its imports, so each command loads only what its pass uses: not the UI,
not the other protocol's engine and library, not keyring for an account with a
password_command, not platformdirs when --config and --data-dir are given, not the email
package for a POP3 pass that stores nothing, nor its header parser for an IMAP one. The
process is the installed command's (`tuimail.cli.entry.run`); its modules are read when the
command returns, with the garbage collector as the entry point leaves it (on, with the imports
frozen out of its passes).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.terminal import ROOT

pytestmark = pytest.mark.integration

PROBE = """
import gc, sys
from tuimail.cli.entry import run
sys.argv = ["tuimail", *sys.argv[1:]]
status = run()
print("MODULES", sorted(sys.modules))
print("GC", gc.isenabled(), gc.get_freeze_count())
sys.exit(status)
"""

# Never on a headless sync or fetch.
NEVER = (
    "textual",
    "rich",
    "keyring",
    "aiosmtplib",
    "html2text",
    "platformdirs",
    "difflib",
    "shutil",  # argparse asks it for the terminal's width; tuimail's help formatter does not
    "tuimail.ui",
    "tuimail.app",
    "tuimail.auth.oauth",
    "tuimail.sync.smtp",
    "tuimail.sync.discovery",
    "tuimail.mail.parse",
    "tuimail.mail.render",
    "tuimail.mail.compose",
)
# A sync over loopback is not compressed (the default), and the Message-ID it reads to check the
# folder needs no header parser; a store with every entry complete loads no indexer; imapclient
# gets its version without the package metadata (tuimail/sync/imap/__init__.py).
NOT_ON_SYNC = (
    "poplib",
    "tuimail.sync.pop3",
    "tuimail.sync.imap.compress",
    "email.policy",
    "tuimail.store.indexer",
    "multiprocessing",
    "importlib.metadata",  # imapclient's version comes from its directory's name
)
NOT_ON_FETCH = ("imapclient", "tuimail.sync.imap", "email", "importlib.metadata")


def _message(number: int) -> bytes:
    return (
        f"From: Sender <sender@tuimail.test>\r\nTo: someone@tuimail.test\r\n"
        f"Subject: start-up {number}\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <startup-{number}@tuimail.test>\r\n\r\nBody {number}.\r\n"
    ).encode()


@pytest.fixture
def config(mail_servers: MailServers, tmp_path: Path) -> Path:
    """An IMAP and a POP3 account of one user with two messages, each with a password_command."""
    user = mail_servers.add_user("startup")
    for number in range(2):
        mail_servers.deliver(user, _message(number))
    command = json.dumps(f"printf %s '{mail_servers.users[user]}'")
    common = f'username = "{user}"\nhost = "{mail_servers.host}"\nsecurity = "tls"\n'
    path = tmp_path / "config.toml"
    path.write_text(
        f'[accounts.mail]\naddress = "{user}@tuimail.test"\npassword_command = {command}\n'
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        f"[accounts.mail.imap]\nport = {mail_servers.imaps_port}\n{common}"
        f'[accounts.pop]\naddress = "{user}@tuimail.test"\npassword_command = {command}\n'
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        f"[accounts.pop.pop3]\nport = {mail_servers.pop3s_port}\n{common}"
    )
    return path


def _run(*arguments: str) -> tuple[str, set[str], str]:
    """Run the command as the installed entry point does: its output and the modules loaded."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    modules = next(line for line in lines if line.startswith("MODULES "))
    collector = next(line for line in lines if line.startswith("GC "))
    output = "\n".join(line for line in lines if not line.startswith(("MODULES ", "GC ")))
    loaded = set(ast.literal_eval(modules.removeprefix("MODULES ")))
    return output + result.stderr, loaded, collector


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if any(m == name or m.startswith(name + ".") for m in modules)]


@pytest.mark.parametrize(
    ("command", "account", "said", "not_loaded"),
    [
        ("sync", "mail", "mail: 1 folder synced, 0 new", NOT_ON_SYNC),
        ("fetch", "pop", "pop: no new messages", NOT_ON_FETCH),
    ],
)
def test_nothing_new_loads_only_what_its_pass_uses(
    config: Path,
    tmp_path: Path,
    command: str,
    account: str,
    said: str,
    not_loaded: tuple[str, ...],
) -> None:
    arguments = ["--config", str(config), "--data-dir", str(tmp_path / "data"), command, account]
    if command == "sync":
        arguments += ["--folder", "INBOX"]
    first, _, _ = _run(*arguments)
    assert "2 messages" in first  # the first pass stored the two messages
    output, modules, collector = _run(*arguments)
    assert said in output
    assert _loaded(modules, NEVER + not_loaded) == []
    # The imports are out of the collector's passes, and it is on for the command's work.
    enabled, frozen = collector.split()[1:]
    assert enabled == "True" and int(frozen) > 0
